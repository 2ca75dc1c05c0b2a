// Package docker is the runner that builds Docker images for a worker: it
// turns a job's Docker build (a Dockerfile given by contents or by a path
// in the job's git checkout, build args, secrets, squash, BuildKit, an
// optional push) into requests to a Docker engine through
// github.com/moby/moby/client, streams the build's output into the job's
// log as it comes, and returns the image id or the pushed digest. It also
// tells the worker when the engine's disk needs pruning, prunes it, and
// exports the push and prune times as Prometheus summaries.
//
// What it must never do:
//
//   - read or send anything outside the job's build context: a Dockerfile
//     path that is absolute, climbs out with "..", or is a symbolic link
//     leading out is refused before the engine is contacted;
//   - let a secret outlive its job: secrets reach the engine only through
//     a BuildKit session held in memory, are masked in the log, and are
//     never in a layer, an image's history, a file, or a cache key's
//     contents (note that BuildKit does not make a secret's value part of
//     its cache key: a step that reads a secret is reused when only the
//     secret changed);
//   - write push credentials to disk: they travel in the push request only;
//   - leave the tag it pushed under on the engine once the push has ended,
//     or force the build's image out along with that tag;
//   - push to a repository the worker was not started with --allow-push for;
//   - leave anything running once Run returns, cancelled or not: no step
//     container of the classic builder, no BuildKit step;
//   - pull from or push to a registry other than those the job names;
//   - block the worker while it prunes, or prune what others own when told
//     to share the engine (Config.PruneLabel).
//
// Like every runner it imports nothing else of the project but the
// runners package.
package docker
