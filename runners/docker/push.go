package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"

	"github.com/ocluster-go/ocluster/runners"
)

// DefaultPushRetryDelays are OCluster's waits between push attempts.
var DefaultPushRetryDelays = []time.Duration{4 * time.Second, 16 * time.Second, 48 * time.Second, 128 * time.Second, 320 * time.Second}

// pushPlan is a checked push request.
type pushPlan struct {
	target   reference.NamedTagged // normalised: docker.io/library/x:tag
	user     string
	password string
}

// checkPush parses a job's push target and checks that this worker may
// push there. It runs before the build: there is no point building an
// image that cannot be delivered.
func (r *Runner) checkPush(d *runners.DockerBuild) (*pushPlan, error) {
	named, err := reference.ParseNormalizedNamed(d.PushTarget)
	if err != nil {
		return nil, fmt.Errorf("push target %q: %w (write it as REPOSITORY:TAG)", d.PushTarget, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return nil, fmt.Errorf("push target %q names a digest: give a tag (REPOSITORY:TAG)", d.PushTarget)
	}
	tagged, ok := reference.TagNameOnly(named).(reference.NamedTagged)
	if !ok {
		return nil, fmt.Errorf("push target %q: no tag", d.PushTarget)
	}
	if !r.allowPush[named.Name()] {
		return nil, fmt.Errorf("this worker may not push to %s: to allow pushing to this repository, start the worker with --allow-push %s",
			reference.FamiliarName(named), reference.FamiliarName(named))
	}
	return &pushPlan{target: tagged, user: d.PushUser, password: d.PushPassword}, nil
}

// pushResult is the aux of a push's last message; the engine API types
// have no name for it.
type pushResult struct {
	Tag    string
	Digest string
	Size   int
}

// push tags the image as the target and pushes it, retrying with the
// configured delays what may pass on a retry, and returns the pushed
// repo@sha256:... reference. A refusal by the registry fails at once.
// The tag goes again when the push ends, whatever its outcome (untag).
// The credentials go to the engine with the request only (the
// X-Registry-Auth header): nothing is written to disk, unlike with the
// docker CLI's `login`.
func (r *Runner) push(ctx context.Context, imageID string, p *pushPlan, jl *jobLog) (string, error) {
	start := time.Now()
	defer func() { r.pushTime.Observe(time.Since(start).Seconds()) }()
	target := reference.FamiliarString(p.target)
	// Tagging and pushing are two requests: two jobs pushing to the same
	// tag at once could each push the other's image.
	unlock, err := r.pushLocks.lock(ctx, target, func() { jl.linef("Waiting for another job's push to %s", target) })
	if err != nil {
		return "", runners.ErrCancelled
	}
	defer unlock()
	as := ""
	if p.user != "" {
		as = fmt.Sprintf(" as user %q", p.user)
	}
	jl.linef("Pushing %s to %s%s", imageID, target, as)
	// A tag that already names the image is someone else's: it stays.
	if before, err := r.cli.ImageInspect(ctx, target); err != nil || before.ID != imageID {
		if _, err := r.cli.ImageTag(ctx, client.ImageTagOptions{Source: imageID, Target: target}); err != nil {
			if ctx.Err() != nil {
				return "", runners.ErrCancelled
			}
			return "", fmt.Errorf("tagging the image as %s: %w", target, err)
		}
		defer r.untag(ctx, target, jl)
	}
	// Sent even when empty: some engines (Debian's 20.10 among them)
	// refuse a push without the header.
	auth, err := authconfig.Encode(registry.AuthConfig{
		Username:      p.user,
		Password:      p.password,
		ServerAddress: reference.Domain(p.target),
	})
	if err != nil {
		return "", fmt.Errorf("encoding the push credentials: %w", err)
	}
	attempts := len(r.retryDelays) + 1
	for attempt := 1; ; attempt++ {
		digest, err := r.pushOnce(ctx, target, auth, p.target.Tag(), jl)
		if ctx.Err() != nil {
			return "", runners.ErrCancelled
		}
		if err == nil {
			pinned := reference.FamiliarName(p.target) + "@" + digest
			jl.linef("Pushed %s", pinned)
			return pinned, nil
		}
		msg := jl.redact(err.Error())
		// The same credentials get the same answer: retrying a refusal
		// only delays telling the user what to fix.
		if refusal := pushRefusal(err); refusal != "" {
			return "", fmt.Errorf("push to %s refused: %s: %s; %s", target, refusal, msg, refusalAdvice(p, refusal))
		}
		if attempt == attempts {
			return "", fmt.Errorf("pushing to %s failed after %d attempts: %s", target, attempts, msg)
		}
		delay := r.retryDelays[attempt-1]
		jl.linef("Push attempt %d/%d failed: %s. Retrying in %s", attempt, attempts, msg, delay)
		select {
		case <-ctx.Done():
			return "", runners.ErrCancelled
		case <-time.After(delay):
		}
	}
}

// The registry's refusals, as pushRefusal names them.
const (
	refusedAuthentication = "authentication failed (401)"
	refusedAccess         = "access denied (403)"
)

// pushRefusal says whether err is the registry refusing the push's
// credentials (refusedAuthentication) or their access to the repository
// (refusedAccess), and "" for any other failure, which may pass on a
// retry.
//
// Typed errors are checked first: the client types an error response
// from the engine by its HTTP status. But the engine answers a push with
// 200 and a stream of messages, and a registry's refusal comes as the
// text of the stream's last message, its code unset by the engines seen
// so far (20.10 among them): for those, the text the engine writes for a
// registry's 401 or 403 is all there is to go on.
func pushRefusal(err error) string {
	switch {
	case cerrdefs.IsUnauthorized(err):
		return refusedAuthentication
	case cerrdefs.IsPermissionDenied(err):
		return refusedAccess
	}
	var streamErr *jsonstream.Error
	if errors.As(err, &streamErr) {
		switch streamErr.Code {
		case http.StatusUnauthorized:
			return refusedAuthentication
		case http.StatusForbidden:
			return refusedAccess
		}
	}
	m := strings.ToLower(err.Error())
	for _, s := range []string{"unauthorized", "authentication required", "no basic auth credentials", "incorrect username or password", "401 unauthorized"} {
		if strings.Contains(m, s) {
			return refusedAuthentication
		}
	}
	// Not "denied" alone: the engine's own "permission denied" on its
	// files is no refusal by the registry.
	for _, s := range []string{"denied: ", "requested access to the resource is denied", "insufficient_scope", "403 forbidden"} {
		if strings.Contains(m, s) {
			return refusedAccess
		}
	}
	return ""
}

// refusalAdvice says what to do when the registry refused a push.
func refusalAdvice(p *pushPlan, refusal string) string {
	switch {
	case p.user == "":
		return "the job gives no push credentials: give them with --push-user and --push-password"
	case refusal == refusedAccess:
		return fmt.Sprintf("check that the user %q may push to this repository, and the job's push credentials (--push-user and --push-password)", p.user)
	default:
		return "check the job's push credentials (--push-user and --push-password)"
	}
}

// untag removes the tag push gave the image, so that pushed images do not
// pile up tagged on the worker until the next prune, and a later build
// there cannot take a failed push's tag for the registry's image. It runs
// however the push ended, cancelled too, and before the push's lock is
// released: once released, the tag may be another job's.
//
// Only the tag is removed, without force and without pruning parents, so
// the build's image stays while another tag holds it, and the images of
// its earlier steps (the classic builder's cache) stay in any case. But
// the engine deletes an image along with its last reference, and gives
// no way to untag and keep it (a container holding the image makes it
// refuse the untag, and force then deletes the image all the same): when
// the push's tag was the only one, the build's image goes with it. A push
// job's output is the pushed digest, not that image, so what is lost is
// the classic builder's cache of the last step, which a prune removes
// anyway.
func (r *Runner) untag(ctx context.Context, target string, jl *jobLog) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), untagTimeout)
	defer cancel()
	if _, err := r.cli.ImageRemove(ctx, target, client.ImageRemoveOptions{Force: false, PruneChildren: false}); err != nil && !cerrdefs.IsNotFound(err) {
		jl.linef("Warning: could not remove the local tag %s: %s", target, err)
		r.log.Warn("cannot untag a pushed image", "tag", target, "err", err)
		return
	}
	jl.linef("Removed the local tag %s", target)
}

// untagTimeout bounds untag, which runs after the job may have been
// cancelled.
const untagTimeout = time.Minute

func (r *Runner) pushOnce(ctx context.Context, target, auth, tag string, jl *jobLog) (string, error) {
	resp, err := r.cli.ImagePush(ctx, target, client.ImagePushOptions{RegistryAuth: auth})
	if err != nil {
		return "", err
	}
	digest := ""
	for m, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return "", err
		}
		if m.Error != nil {
			return "", m.Error
		}
		switch m.Status {
		case "", "Preparing", "Waiting", "Pushing":
		default:
			if !inProgress(m.Progress) {
				jl.line(statusLine(m))
			}
		}
		if m.Aux != nil {
			var res pushResult
			if json.Unmarshal(*m.Aux, &res) == nil && res.Tag == tag && strings.HasPrefix(res.Digest, "sha256:") {
				digest = res.Digest
			}
		}
	}
	if digest == "" {
		return "", errors.New("the engine did not report the pushed image's digest")
	}
	return digest, nil
}

// keyedLock is a mutex per key (a push target), whose waiters give up
// when their job is cancelled.
type keyedLock struct {
	mu   sync.Mutex
	held map[string]chan struct{}
}

func (k *keyedLock) lock(ctx context.Context, key string, waiting func()) (func(), error) {
	told := false
	for {
		k.mu.Lock()
		if k.held == nil {
			k.held = map[string]chan struct{}{}
		}
		busy, ok := k.held[key]
		if !ok {
			release := make(chan struct{})
			k.held[key] = release
			k.mu.Unlock()
			return func() {
				k.mu.Lock()
				delete(k.held, key)
				k.mu.Unlock()
				close(release)
			}, nil
		}
		k.mu.Unlock()
		if !told {
			waiting()
			told = true
		}
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
