// Package gitctx makes the git build context of a job: the tree of the
// job's first commit with its other commits merged in and its submodules
// checked out, in a fresh directory the runner builds from.
//
// Each repository is fetched into a bare clone cached under the worker's
// state directory, keyed by its URL, and fetched again only when a job
// names a commit the cache lacks (branches, tags, GitHub pull and GitLab
// merge-request refs are all fetched, so a commit only reachable from a
// pull request is found). Preparations that use the same clone take turns;
// the lock is a flock, which a crashed worker cannot leave behind.
//
// What it must never do:
//
//   - fetch from anything but git://, http:// and https:// URLs, unless the
//     worker allows local repositories (file:// URLs and absolute paths);
//     submodule URLs obey the same rule;
//   - pass a job's text where git could read it as an option or a
//     revision expression: commits are full hex object names, URLs are
//     checked before git sees them;
//   - hand a build a tree with leftovers of another build, or a .git
//     directory the job did not ask for;
//   - leave the clone's lock held, or a build context on disk, after the
//     release function has run.
//
// It needs git 2.38 or later (for merge-tree --write-tree) and a Unix
// system (flock and process groups). Like every runner it imports nothing
// of the project but the runners package.
package gitctx
