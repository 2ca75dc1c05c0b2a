package wire

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/transport/schema"
)

// FillDescr writes a job into a wire description.
func FillDescr(d schema.JobDescr, job *runners.Job) error {
	if err := d.SetCacheHint(job.Hint); err != nil {
		return err
	}
	if err := d.SetRepository(job.Repository); err != nil {
		return err
	}
	commits, err := d.NewCommits(int32(len(job.Commits)))
	if err != nil {
		return err
	}
	for i, c := range job.Commits {
		commits.Set(i, c)
	}
	secrets, err := d.NewSecrets(int32(len(job.Secrets)))
	if err != nil {
		return err
	}
	for i, s := range job.Secrets {
		if err := secrets.At(i).SetId(s.ID); err != nil {
			return err
		}
		if err := secrets.At(i).SetValue(s.Value); err != nil {
			return err
		}
	}
	d.SetEstimate(job.Estimate)
	switch {
	case job.Docker != nil:
		b := job.Docker
		db, err := d.Action().NewDockerBuild()
		if err != nil {
			return err
		}
		if b.DockerfilePath != "" {
			err = db.Dockerfile().SetPath(b.DockerfilePath)
		} else {
			err = db.Dockerfile().SetContents(b.DockerfileContents)
		}
		if err != nil {
			return err
		}
		for _, set := range []func() error{
			func() error { return db.SetPushTarget(b.PushTarget) },
			func() error { return db.SetPushUser(b.PushUser) },
			func() error { return db.SetPushPassword(b.PushPassword) },
		} {
			if err := set(); err != nil {
				return err
			}
		}
		args, err := db.NewBuildArgs(int32(len(b.BuildArgs)))
		if err != nil {
			return err
		}
		for i, a := range b.BuildArgs {
			args.Set(i, a)
		}
		db.SetSquash(b.Squash)
		db.SetBuildkit(b.BuildKit)
		db.SetIncludeGit(b.IncludeGit)
	case job.OBuilder != nil:
		ob, err := d.Action().NewObuilder()
		if err != nil {
			return err
		}
		return ob.SetSpec(job.OBuilder.Spec)
	case job.Custom != nil:
		c, err := d.Action().NewCustom()
		if err != nil {
			return err
		}
		if err := c.SetKind(job.Custom.Kind); err != nil {
			return err
		}
		return c.SetPayload(job.Custom.Payload)
	default:
		return fmt.Errorf("the job has no action (docker, obuilder or custom)")
	}
	return nil
}

// ReadDescr turns a wire description into a job.
func ReadDescr(d schema.JobDescr) (*runners.Job, error) {
	var job runners.Job
	var err error
	if job.Hint, err = d.CacheHint(); err != nil {
		return nil, err
	}
	if job.Repository, err = d.Repository(); err != nil {
		return nil, err
	}
	commits, err := d.Commits()
	if err != nil {
		return nil, err
	}
	for i := range commits.Len() {
		c, err := commits.At(i)
		if err != nil {
			return nil, err
		}
		job.Commits = append(job.Commits, c)
	}
	secrets, err := d.Secrets()
	if err != nil {
		return nil, err
	}
	for i := range secrets.Len() {
		s := secrets.At(i)
		id, err := s.Id()
		if err != nil {
			return nil, err
		}
		value, err := s.Value()
		if err != nil {
			return nil, err
		}
		job.Secrets = append(job.Secrets, runners.Secret{ID: id, Value: value})
	}
	job.Estimate = d.Estimate()
	action := d.Action()
	switch action.Which() {
	case schema.JobDescr_action_Which_dockerBuild:
		db, err := action.DockerBuild()
		if err != nil {
			return nil, err
		}
		b := &runners.DockerBuild{Squash: db.Squash(), BuildKit: db.Buildkit(), IncludeGit: db.IncludeGit()}
		switch db.Dockerfile().Which() {
		case schema.DockerBuild_dockerfile_Which_path:
			b.DockerfilePath, err = db.Dockerfile().Path()
		default:
			b.DockerfileContents, err = db.Dockerfile().Contents()
		}
		if err != nil {
			return nil, err
		}
		if b.PushTarget, err = db.PushTarget(); err != nil {
			return nil, err
		}
		if b.PushUser, err = db.PushUser(); err != nil {
			return nil, err
		}
		if b.PushPassword, err = db.PushPassword(); err != nil {
			return nil, err
		}
		args, err := db.BuildArgs()
		if err != nil {
			return nil, err
		}
		for i := range args.Len() {
			a, err := args.At(i)
			if err != nil {
				return nil, err
			}
			b.BuildArgs = append(b.BuildArgs, a)
		}
		job.Docker = b
	case schema.JobDescr_action_Which_obuilder:
		ob, err := action.Obuilder()
		if err != nil {
			return nil, err
		}
		spec, err := ob.Spec()
		if err != nil {
			return nil, err
		}
		job.OBuilder = &runners.OBuilderBuild{Spec: spec}
	case schema.JobDescr_action_Which_custom:
		c, err := action.Custom()
		if err != nil {
			return nil, err
		}
		kind, err := c.Kind()
		if err != nil {
			return nil, err
		}
		payload, err := c.Payload()
		if err != nil {
			return nil, err
		}
		job.Custom = &runners.Custom{Kind: kind, Payload: append([]byte(nil), payload...)}
	default:
		return nil, fmt.Errorf("unknown job action %d", action.Which())
	}
	return &job, nil
}

// ValidateDescr checks a job description and returns its cache hint.
func ValidateDescr(d schema.JobDescr) (string, error) {
	hint, err := d.CacheHint()
	if err != nil {
		return "", err
	}
	if e := d.Estimate(); math.IsNaN(e) || math.IsInf(e, 0) || e < 0 {
		return "", fmt.Errorf("estimate %v must be a finite number of seconds, 0 or more", e)
	}
	action := d.Action()
	switch action.Which() {
	case schema.JobDescr_action_Which_dockerBuild:
		db, err := action.DockerBuild()
		if err != nil {
			return "", err
		}
		target, err := db.PushTarget()
		if err != nil {
			return "", err
		}
		user, _ := db.PushUser()
		password, _ := db.PushPassword()
		switch {
		case target != "" && !strings.Contains(target[strings.LastIndex(target, "/")+1:], ":"):
			return "", fmt.Errorf("push target %q has no tag: want REPO:TAG", target)
		case (user == "") != (password == ""):
			return "", errors.New("give both a push user and a push password, or neither")
		case user != "" && target == "":
			return "", errors.New("push credentials without a push target")
		}
		df := db.Dockerfile()
		switch df.Which() {
		case schema.DockerBuild_dockerfile_Which_contents:
			if _, err := df.Contents(); err != nil {
				return "", err
			}
		case schema.DockerBuild_dockerfile_Which_path:
			if _, err := df.Path(); err != nil {
				return "", err
			}
		default:
			return "", fmt.Errorf("unknown Dockerfile kind %d", df.Which())
		}
	case schema.JobDescr_action_Which_obuilder:
		ob, err := action.Obuilder()
		if err != nil {
			return "", err
		}
		if spec, err := ob.Spec(); err != nil || strings.TrimSpace(spec) == "" {
			return "", errors.New("empty OBuilder spec")
		}
	case schema.JobDescr_action_Which_custom:
		c, err := action.Custom()
		if err != nil {
			return "", err
		}
		if kind, err := c.Kind(); err != nil || kind == "" {
			return "", errors.New("custom job without a kind")
		}
	default:
		return "", fmt.Errorf("unknown action %d", action.Which())
	}
	return hint, nil
}
