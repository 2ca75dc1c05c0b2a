// Package deploy holds the Kubernetes manifests of the project, not Go
// code: sweep/ spreads an ocluster-sim sweep over an Indexed Job and
// merges its shards, cluster/ runs the scheduler and its workers. Its
// tests decode every manifest with the Kubernetes API types, check what
// the commands rely on, and run each shard's command as the Job would.
// Nothing may import this package; the Kubernetes modules stay in its
// tests, out of the project's binaries.
package deploy
