package gitctx

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// maxSubmoduleDepth stops a repository whose submodules include itself.
const maxSubmoduleDepth = 10

// Every clone is fetched with these refspecs: branches, tags, and the
// refs under which GitHub (and Gitea, Forgejo) and GitLab publish pull and
// merge requests, so that a job on a proposed change finds its commit.
// Refspecs that match nothing on a server cost nothing.
var fetchRefspecs = []string{
	"+refs/heads/*:refs/remotes/origin/*",
	"+refs/tags/*:refs/tags/*",
	"+refs/pull/*/head:refs/remotes/origin/pull/*",
	"+refs/merge-requests/*/head:refs/remotes/origin/merge-requests/*",
}

// repo is a cached clone: a bare repository (gitDir) in a directory of
// its own (dir), which also holds the lock file and, for a top-level
// repository, its submodules' clones.
type repo struct {
	url    string
	format string
	dir    string
	gitDir string
}

func newRepo(parent, url, format string) *repo {
	dir := filepath.Join(parent, repoKey(url, format))
	return &repo{url: url, format: format, dir: dir, gitDir: filepath.Join(dir, "repo.git")}
}

// A session is one preparation.
type session struct {
	c          *Contexts
	ctx        context.Context
	log        io.Writer
	includeGit bool
	dest       string
	top        *repo
	times      map[string]int64 // committer times, for merge commits
	indexes    int              // private index files made so far
}

func (s *session) say(format string, args ...any) {
	fmt.Fprintf(s.log, format+"\n", args...)
}

func (s *session) git(r gitRun, args ...string) ([]byte, error) {
	return s.c.git(s.ctx, r, args...)
}

func short(oid string) string { return oid[:12] }

func (s *session) prepare(url string, commits []string, format string) error {
	s.top = newRepo(s.c.repos, url, format)
	unlock, err := s.c.lock(s.ctx, s.top, func() {
		s.say("Waiting for another job to finish with the cached clone of %s", display(url))
		if s.c.hooks.waiting != nil {
			s.c.hooks.waiting(url)
		}
	})
	if err != nil {
		return err
	}
	defer unlock()
	if s.c.hooks.locked != nil {
		s.c.hooks.locked(url)
	}
	if err := s.sync(s.top, commits); err != nil {
		return err
	}
	head := commits[0]
	s.say("Checking out %s", short(head))
	for _, c := range commits[1:] {
		if head, err = s.merge(s.top, head, c); err != nil {
			return err
		}
	}
	return s.checkout(s.top, head, s.dest, 0)
}

// sync makes sure r's clone exists and holds every commit, fetching if one
// is missing.
func (s *session) sync(r *repo, commits []string) error {
	created, err := s.ensureRepo(r)
	if err != nil {
		return err
	}
	missing, err := s.missing(r, commits)
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		s.say("Commits of %s already in the cache", display(r.url))
		return nil
	}
	what := fmt.Sprintf("commit %s not in the cache", short(missing[0]))
	if len(missing) > 1 {
		what = fmt.Sprintf("commits %s and %d more not in the cache", short(missing[0]), len(missing)-1)
	}
	if created {
		what = "first use on this worker"
	}
	s.say("Fetching %s (%s)", display(r.url), what)
	if err := s.fetch(r); err != nil {
		return fmt.Errorf("fetching %s: %w; check that the URL is right and that this worker can reach it", display(r.url), err)
	}
	if missing, err = s.missing(r, missing); err != nil || len(missing) == 0 {
		return err
	}
	// Not on any branch, tag or pull request (a force-pushed one, or a
	// submodule pinned to a commit of a deleted branch): many servers still
	// hand out a commit asked for by name.
	s.say("Commit %s is on no branch, tag or pull request of %s; asking for it by name", short(missing[0]), display(r.url))
	fetchErr := s.fetch(r, missing...)
	if s.ctx.Err() != nil {
		return fmt.Errorf("fetching %s: %w", display(r.url), s.ctx.Err())
	}
	if missing, err = s.missing(r, missing); err != nil || len(missing) == 0 {
		return err
	}
	why := ""
	if fetchErr != nil {
		why = " (" + fetchErr.Error() + ")"
	}
	return fmt.Errorf("commit %s not found in %s: it is on no branch, tag, pull or merge request there, and the server did not send it by name%s; check that it was pushed and that the repository URL is right",
		missing[0], display(r.url), why)
}

// ensureRepo creates r's bare clone unless it exists, and clears the lock
// files a crashed git left in it.
func (s *session) ensureRepo(r *repo) (created bool, err error) {
	if _, err := os.Stat(filepath.Join(r.gitDir, "HEAD")); err == nil {
		if removed := sweepStaleLocks(r.gitDir); len(removed) > 0 {
			s.say("Removed lock files left in the cached clone of %s by an interrupted git: %s", display(r.url), strings.Join(removed, ", "))
			s.c.logger.Warn("removed stale git lock files", "repository", display(r.url), "files", removed)
		}
		return false, nil
	}
	// Made aside and renamed into place, so that a crash never leaves a
	// half-configured clone where the next job would use it.
	tmp := r.gitDir + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return false, fmt.Errorf("clearing %s: %w", tmp, err)
	}
	fail := func(err error) (bool, error) {
		_ = os.RemoveAll(tmp)
		return false, fmt.Errorf("making the cached clone of %s: %w", display(r.url), err)
	}
	if _, err := s.git(gitRun{}, "init", "--quiet", "--bare", "--object-format="+r.format, "--", tmp); err != nil {
		return fail(err)
	}
	t := gitRun{gitDir: tmp}
	settings := [][]string{
		{"remote.origin.url", r.url},
		{"core.logAllRefUpdates", "false"},
		{"gc.autoDetach", "false"},
	}
	for _, kv := range settings {
		if _, err := s.git(t, "config", "--", kv[0], kv[1]); err != nil {
			return fail(err)
		}
	}
	for _, spec := range fetchRefspecs {
		if _, err := s.git(t, "config", "--add", "--", "remote.origin.fetch", spec); err != nil {
			return fail(err)
		}
	}
	if err := os.Rename(tmp, r.gitDir); err != nil {
		return fail(err)
	}
	return true, nil
}

// missing returns the commits r's clone lacks. A commit it holds as some
// other kind of object is an error.
func (s *session) missing(r *repo, oids []string) ([]string, error) {
	out, err := s.git(gitRun{gitDir: r.gitDir, stdin: strings.Join(oids, "\n") + "\n"}, "cat-file", "--batch")
	if err != nil {
		return nil, fmt.Errorf("reading the cached clone of %s: %w", display(r.url), err)
	}
	br := bufio.NewReader(bytes.NewReader(out))
	var missing []string
	for _, want := range oids {
		header, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("reading the cached clone of %s: git cat-file output ends early", display(r.url))
		}
		f := strings.Fields(header)
		if len(f) == 2 && f[1] == "missing" {
			missing = append(missing, want)
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("reading the cached clone of %s: unexpected git cat-file output %q", display(r.url), header)
		}
		size, err := strconv.Atoi(f[2])
		if err != nil {
			return nil, fmt.Errorf("reading the cached clone of %s: unexpected git cat-file output %q", display(r.url), header)
		}
		body := make([]byte, size+1) // and the newline after it
		if _, err := io.ReadFull(br, body); err != nil {
			return nil, fmt.Errorf("reading the cached clone of %s: git cat-file output ends early", display(r.url))
		}
		if f[1] != "commit" {
			return nil, fmt.Errorf("%s in %s is a %s, not a commit; give a commit's object name", want, display(r.url), f[1])
		}
		s.times[want] = committerTime(body)
	}
	return missing, nil
}

// committerTime reads the committer's Unix time from a commit object.
func committerTime(commit []byte) int64 {
	for _, line := range strings.Split(string(commit), "\n") {
		if line == "" {
			break // end of the header
		}
		if rest, ok := strings.CutPrefix(line, "committer "); ok {
			f := strings.Fields(rest)
			if len(f) >= 2 {
				t, _ := strconv.ParseInt(f[len(f)-2], 10, 64)
				return t
			}
		}
	}
	return 0
}

// fetch brings r's clone up to date with its server: every refspec, or
// just the given commits.
func (s *session) fetch(r *repo, oids ...string) error {
	s.c.fetches.Add(1)
	args := append([]string{"fetch", "--quiet", "--no-write-fetch-head", "--no-recurse-submodules", "origin"}, oids...)
	if _, err := s.git(gitRun{gitDir: r.gitDir}, args...); err != nil {
		return err
	}
	// A repository with many pull requests gets a loose file per ref:
	// packing them keeps the lock sweep and include-git copies cheap.
	if _, err := s.git(gitRun{gitDir: r.gitDir}, "pack-refs", "--all"); err != nil {
		return err
	}
	return nil
}

// merge merges c into head in r's clone, as git merge would but without a
// work tree, and returns the result: head if it already contains c, c if
// head is an ancestor of c, else a new merge commit. Merge commits take
// their date from their newest parent, so the same inputs give the same
// commit and a build that reads its .git sees the same history each time.
func (s *session) merge(r *repo, head, c string) (string, error) {
	g := gitRun{gitDir: r.gitDir}
	out, err := s.git(g, "merge-base", head, c)
	if exitCode(err) == 1 {
		return "", fmt.Errorf("merging %s into %s: they have no history in common; submit commits of one project", c, head)
	}
	if err != nil {
		return "", fmt.Errorf("merging %s into %s: %w", c, head, err)
	}
	switch strings.TrimSpace(string(out)) {
	case c:
		s.say("Merging %s: already contained in %s", short(c), short(head))
		return head, nil
	case head:
		s.say("Merging %s: fast-forward from %s", short(c), short(head))
		return c, nil
	}
	s.say("Merging %s into %s", short(c), short(head))
	out, err = s.git(g, "merge-tree", "--write-tree", "-z", "--name-only", "--no-messages", head, c)
	if exitCode(err) == 1 {
		return "", fmt.Errorf("merging %s into %s: conflict in %s; submit commits that merge cleanly (for example, rebase one onto the other)",
			c, head, conflictList(out))
	}
	if err != nil {
		return "", fmt.Errorf("merging %s into %s: %w", c, head, err)
	}
	tree, _, _ := strings.Cut(string(out), "\x00")
	tree = strings.TrimSpace(tree)
	date := max(s.times[head], s.times[c])
	g.env = []string{
		"GIT_AUTHOR_NAME=OCluster", "GIT_AUTHOR_EMAIL=ocluster@localhost",
		"GIT_COMMITTER_NAME=OCluster", "GIT_COMMITTER_EMAIL=ocluster@localhost",
		fmt.Sprintf("GIT_AUTHOR_DATE=@%d +0000", date),
		fmt.Sprintf("GIT_COMMITTER_DATE=@%d +0000", date),
	}
	out, err = s.git(g, "commit-tree", "-p", head, "-p", c, "-m", "Merge "+c+" into "+head, "--", tree)
	if err != nil {
		return "", fmt.Errorf("merging %s into %s: %w", c, head, err)
	}
	merged := strings.TrimSpace(string(out))
	s.times[merged] = date
	return merged, nil
}

// conflictList reads the conflicted paths from merge-tree -z --name-only
// output: the tree, then one NUL-terminated path per conflicted file.
func conflictList(out []byte) string {
	fields := strings.Split(string(out), "\x00")
	var files []string
	if len(fields) > 1 {
		for _, f := range fields[1:] {
			if f == "" {
				break // an empty field ends the list
			}
			if !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
	}
	if len(files) == 0 {
		return "(git named no file)"
	}
	const shown = 20
	if len(files) > shown {
		return strings.Join(files[:shown], ", ") + fmt.Sprintf(" and %d more", len(files)-shown)
	}
	return strings.Join(files, ", ")
}

// checkout writes commit's tree from r's clone into dir (an empty
// directory), then its submodules'. The index is private to this build,
// so the clone itself never changes and other builds can use it next.
func (s *session) checkout(r *repo, commit, dir string, depth int) error {
	run := gitRun{gitDir: r.gitDir, workTree: dir}
	if s.includeGit {
		dotGit := filepath.Join(dir, ".git")
		if err := s.makeDotGit(r, commit, dotGit); err != nil {
			return fmt.Errorf("making the .git of the build context: %w", err)
		}
		run.gitDir = dotGit // its index then matches the tree
	} else {
		s.indexes++
		index := fmt.Sprintf("%s.index%d", s.dest, s.indexes)
		defer os.Remove(index)
		run.env = []string{"GIT_INDEX_FILE=" + index}
	}
	if _, err := s.git(run, "read-tree", "-m", "-u", commit); err != nil {
		return fmt.Errorf("checking out %s of %s: %w", commit, display(r.url), err)
	}
	return s.submodules(r, commit, dir, depth)
}

// submodule is one entry of .gitmodules with its gitlink.
type submodule struct {
	name, path, url, update string
	commit                  string
}

// submodules checks out, recursively, the submodules commit's tree links
// to, each from its own cached clone, as git submodule update --init
// --recursive would.
func (s *session) submodules(r *repo, commit, dir string, depth int) error {
	fi, err := os.Lstat(filepath.Join(dir, ".gitmodules"))
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	subs, err := s.readSubmodules(r, commit)
	if err != nil {
		return err
	}
	if len(subs) > 0 && depth >= maxSubmoduleDepth {
		return fmt.Errorf("submodules of %s nest more than %d deep; is a repository its own submodule?", display(r.url), maxSubmoduleDepth)
	}
	for _, sm := range subs {
		if sm.update == "none" {
			s.say("Submodule %s: skipped (update = none)", sm.path)
			continue
		}
		subURL := resolveSubmoduleURL(r.url, sm.url)
		if err := checkURL(subURL, s.c.opts.AllowLocal); err != nil {
			return fmt.Errorf("submodule %s of %s: %w", sm.path, display(r.url), err)
		}
		target := filepath.Join(dir, filepath.FromSlash(sm.path))
		if fi, err := os.Lstat(target); err != nil || !fi.IsDir() {
			return fmt.Errorf("submodule %s of %s: its directory is missing from the checkout", sm.path, display(r.url))
		}
		s.say("Submodule %s: %s at %s", sm.path, display(subURL), short(sm.commit))
		sub := newRepo(filepath.Join(s.top.dir, "modules"), subURL, r.format)
		if err := s.sync(sub, []string{sm.commit}); err != nil {
			return fmt.Errorf("submodule %s: %w", sm.path, err)
		}
		if err := s.checkout(sub, sm.commit, target, depth+1); err != nil {
			return fmt.Errorf("submodule %s: %w", sm.path, err)
		}
	}
	return nil
}

// readSubmodules lists the submodules .gitmodules declares in commit that
// have a gitlink in its tree (git ignores the others too), by path.
func (s *session) readSubmodules(r *repo, commit string) ([]*submodule, error) {
	g := gitRun{gitDir: r.gitDir}
	out, err := s.git(g, "config", "--blob", commit+":.gitmodules", "--null", "--list")
	if err != nil {
		return nil, fmt.Errorf("reading .gitmodules of %s: %w", short(commit), err)
	}
	byName := map[string]*submodule{}
	for _, entry := range strings.Split(string(out), "\x00") {
		key, value, _ := strings.Cut(entry, "\n")
		rest, ok := strings.CutPrefix(key, "submodule.")
		if !ok {
			continue
		}
		dot := strings.LastIndex(rest, ".")
		if dot <= 0 {
			continue
		}
		name, field := rest[:dot], rest[dot+1:]
		sm := byName[name]
		if sm == nil {
			sm = &submodule{name: name}
			byName[name] = sm
		}
		switch field {
		case "path":
			sm.path = value
		case "url":
			sm.url = value
		case "update":
			sm.update = value
		}
	}
	byPath := map[string]*submodule{}
	var paths []string
	for _, sm := range byName {
		if sm.path == "" || sm.url == "" || !safeSubmodulePath(sm.path) {
			continue
		}
		byPath[sm.path] = sm
		paths = append(paths, sm.path)
	}
	if len(paths) == 0 {
		return nil, nil
	}
	slices.Sort(paths)
	out, err = s.git(g, append([]string{"ls-tree", "-z", commit, "--"}, paths...)...)
	if err != nil {
		return nil, fmt.Errorf("listing submodules of %s: %w", short(commit), err)
	}
	var subs []*submodule
	for _, entry := range strings.Split(string(out), "\x00") {
		meta, p, ok := strings.Cut(entry, "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 3 || f[0] != "160000" {
			continue
		}
		if sm := byPath[p]; sm != nil {
			if _, err := checkCommit(f[2]); err == nil {
				sm.commit = strings.ToLower(f[2])
				subs = append(subs, sm)
			}
		}
	}
	slices.SortFunc(subs, func(a, b *submodule) int { return strings.Compare(a.path, b.path) })
	return subs, nil
}

// safeSubmodulePath refuses paths git itself would never check out: they
// could only come from a hand-crafted .gitmodules.
func safeSubmodulePath(p string) bool {
	if !filepath.IsLocal(p) || strings.HasPrefix(p, "-") {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." || strings.EqualFold(part, ".git") {
			return false
		}
	}
	return true
}

// makeDotGit gives a build context a .git of its own: a copy of r's clone
// whose objects are hard links (git never changes an object file, so the
// build cannot harm the cache through them), made non-bare, with HEAD
// detached at commit. The index is written by the checkout that follows.
func (s *session) makeDotGit(r *repo, commit, dotGit string) error {
	if err := copyGitDir(r.gitDir, dotGit); err != nil {
		return err
	}
	if _, err := s.git(gitRun{gitDir: dotGit}, "config", "--", "core.bare", "false"); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dotGit, "HEAD"), []byte(commit+"\n"), 0o644)
}

// copyGitDir copies a git directory, hard-linking its object files (copying
// them where links are impossible) and skipping lock files.
func copyGitDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.Mkdir(target, 0o755)
		case !d.Type().IsRegular() || strings.HasSuffix(d.Name(), ".lock"):
			return nil
		case strings.HasPrefix(rel, "objects"+string(filepath.Separator)):
			if os.Link(p, target) == nil {
				return nil
			}
		}
		return copyFile(p, target)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}
