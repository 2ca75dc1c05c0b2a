// Package obuilder runs OBuilder jobs: it parses OBuilder's spec language
// (S-expressions: build stages, from, comment, workdir, shell, run, copy,
// user, env) and executes a spec step by step on a Docker engine, caching
// each step's result so that a repeated build reuses every step and a
// changed step rebuilds only from there.
//
// The store is "docker:PATH": each run or copy step is a container made
// from its parent's image and committed to an image tagged
// obuilder-cache:KEY, where KEY hashes the parent's key, the step and what
// it depends on (the state set by env, workdir, user and shell; for a run,
// its command, cache mounts and network; for a copy, the contents of the
// copied files after exclusions). Docker's tags decide what is cached;
// PATH holds an index of last-used times that pruning follows, least
// recently used first. Cache mounts are named Docker volumes, one per
// cache id and store.
//
// The store "rsync:PATH" keeps each step's file system as a directory,
// PATH/result/KEY/rootfs (the same keys), made by copying its parent's with
// rsync (or hard-linking it, --rsync-mode hardlink) into PATH/result-tmp
// and renamed into place only when the step succeeded. Run steps run
// there with runc (see runc.go for the sandbox); base images are exported
// from the Docker engine once. Cache mounts are directories in PATH/cache.
//
// A build's result is its final step's KEY, as OCluster's is OBuilder's
// snapshot id.
//
// The runner must never pull an image (a missing base image is an error),
// never give a step the network unless the spec asks for (network host),
// and never let a secret's value reach an image, a cache key or the log: a
// secret is a read-only file bind-mounted for its run step only, and its
// value is masked in the step's output. It must leave no container
// running (Docker's or runc's), no mount and no unfinished step directory,
// whether a build succeeds, fails or is cancelled. Like every
// runner, it imports nothing of the project but the runners package.
package obuilder
