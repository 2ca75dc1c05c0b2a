package gitctx

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"
)

// maxURLLength bounds what a job may ask git to contact; real URLs are far
// shorter, and the bound keeps error messages and logs readable.
const maxURLLength = 2048

// remoteSchemes are fetched from whatever the worker's options say.
var remoteSchemes = map[string]bool{"git": true, "http": true, "https": true}

const allowedSchemesText = "git://, http:// or https://"

// checkURL says why git must not be given raw as a repository, or nil.
// A URL that passes names a git://, http:// or https:// server, or, with
// allowLocal, a file:// URL or an absolute local path; it never starts
// with "-" and holds no control characters.
func checkURL(raw string, allowLocal bool) error {
	localHint := ""
	if !allowLocal {
		localHint = " (file:// URLs and local paths need the worker's --allow-local-repos)"
	}
	refuse := func(why string) error {
		return fmt.Errorf("repository %q: %s; give a %s URL%s", shorten(raw), why, allowedSchemesText, localHint)
	}
	switch {
	case raw == "":
		return fmt.Errorf("no repository URL given; give a %s URL", allowedSchemesText)
	case len(raw) > maxURLLength:
		return refuse(fmt.Sprintf("longer than %d bytes", maxURLLength))
	case strings.HasPrefix(raw, "-"):
		return refuse(`starts with "-", which git would read as an option`)
	}
	for _, r := range raw {
		if r < 0x20 || r == 0x7f {
			return refuse("contains a control character")
		}
	}
	if strings.HasPrefix(raw, "/") {
		if !allowLocal {
			return refuse("local paths are not allowed on this worker")
		}
		if filepath.Clean(raw) != raw && filepath.Clean(raw)+"/" != raw {
			return refuse("the path is not clean (it has //, /./ or /../)")
		}
		return nil
	}
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		if i := strings.Index(raw, "::"); i > 0 && !strings.Contains(raw[:i], "/") {
			return refuse(fmt.Sprintf("%q is a git remote helper (a transport that runs a program)", raw[:i]))
		}
		if i := strings.Index(raw, ":"); i > 0 && !strings.Contains(raw[:i], "/") {
			return refuse("it is an ssh address (host:path); ssh is not allowed")
		}
		return refuse("it is not a URL (no scheme://)")
	}
	switch {
	case remoteSchemes[scheme]:
	case scheme == "file":
		if !allowLocal {
			return refuse("file:// URLs are not allowed on this worker")
		}
	case remoteSchemes[strings.ToLower(scheme)] || strings.ToLower(scheme) == "file":
		return refuse(fmt.Sprintf("write the scheme %q in lower case", scheme))
	default:
		return refuse(fmt.Sprintf("the scheme %q is not allowed", scheme))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return refuse(fmt.Sprintf("it does not parse as a URL (%v)", unwrapURLError(err)))
	}
	if u.Opaque != "" {
		return refuse("it has no //host part")
	}
	if scheme == "file" {
		if u.Host != "" && u.Host != "localhost" {
			return refuse(fmt.Sprintf("file:// URLs must be local, not on host %q", u.Host))
		}
		if !strings.HasPrefix(u.Path, "/") {
			return refuse("the file:// URL has no absolute path")
		}
		return nil
	}
	if u.Hostname() == "" {
		return refuse("it names no host")
	}
	if strings.HasPrefix(u.Host, "-") || strings.HasPrefix(u.Hostname(), "-") {
		return refuse(`its host starts with "-"`)
	}
	return nil
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// shorten keeps an error message readable when a job sends a huge string.
func shorten(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// display is how a URL appears in logs and errors: without a password.
func display(raw string) string {
	if strings.Contains(raw, "://") {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			return u.Redacted()
		}
	}
	return raw
}

// Object formats, named as git init --object-format names them.
const (
	formatSHA1   = "sha1"
	formatSHA256 = "sha256"
)

// checkCommits says why a job's commits are unusable, or returns them in
// lower case with the repository's object format (sha1 for 40 hex digits,
// sha256 for 64). Only full object names pass: git reads anything else as a
// revision expression, and a leading "-" as an option.
func checkCommits(commits []string) ([]string, string, error) {
	out := make([]string, len(commits))
	format := ""
	for i, c := range commits {
		f, err := checkCommit(c)
		if err != nil {
			return nil, "", err
		}
		if format != "" && f != format {
			return nil, "", fmt.Errorf("commits %s and %s have different hash lengths (%s and %s); all commits of a job come from one repository", commits[0], c, format, f)
		}
		format = f
		out[i] = strings.ToLower(c)
	}
	return out, format, nil
}

func checkCommit(c string) (format string, err error) {
	hint := "give the full object name (40 hex digits, or 64 for a SHA-256 repository), as git rev-parse prints it"
	switch {
	case c == "":
		return "", fmt.Errorf("empty commit; %s", hint)
	case strings.HasPrefix(c, "-"):
		return "", fmt.Errorf("commit %q starts with \"-\", which git would read as an option; %s", shorten(c), hint)
	}
	for _, r := range c {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
			return "", fmt.Errorf("commit %q is not a hex object name; %s", shorten(c), hint)
		}
	}
	switch len(c) {
	case 40:
		return formatSHA1, nil
	case 64:
		return formatSHA256, nil
	}
	return "", fmt.Errorf("commit %q has %d hex digits, not 40 or 64 (abbreviated names are ambiguous); %s", shorten(c), len(c), hint)
}

// resolveSubmoduleURL applies git's rule for a relative submodule URL
// ("./x", "../x"): it is relative to the superproject's URL, whose last
// component is dropped by "../".
func resolveSubmoduleURL(super, sub string) string {
	if !strings.HasPrefix(sub, "./") && !strings.HasPrefix(sub, "../") {
		return sub
	}
	if strings.HasPrefix(super, "/") {
		return filepath.Join(strings.TrimRight(super, "/"), sub)
	}
	u, err := url.Parse(super)
	if err != nil {
		return sub // checkURL refuses it with a message naming it
	}
	u.Path = path.Join("/", strings.TrimRight(u.Path, "/"), sub)
	u.RawPath = ""
	return u.String()
}

// repoKey names a repository's cache directory: readable (the URL's last
// component) and collision-free (a hash of the whole URL). The object
// format is part of the key because a clone has exactly one.
func repoKey(raw, format string) string {
	sum := sha256.Sum256([]byte(raw))
	key := readableName(raw) + "-" + hex.EncodeToString(sum[:16])
	if format == formatSHA256 {
		key += "-sha256"
	}
	return key
}

func readableName(raw string) string {
	s := strings.TrimRight(raw, "/")
	if i := strings.LastIndexAny(s, "/:"); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimSuffix(s, ".git")
	b := []byte(s)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	s = strings.TrimLeft(string(b), ".-")
	if len(s) > 40 {
		s = s[:40]
	}
	if s == "" {
		s = "repo"
	}
	return s
}
