// Package transport is the production driver of the core, split by role
// as OCluster splits its api/, scheduler/ and worker/:
//
//   - schema: the Cap'n Proto schema and its generated code;
//   - wire: what both ends of a connection share: .cap files and the
//     scheduler's identity, TLS pinned by fingerprint, the guard in front
//     of the RPC layer, job descriptions and queue statuses on the wire;
//   - scheduler: the scheduler's services, which own the cores;
//   - worker: the agent that registers with a pool, pulls jobs and runs
//     them;
//   - client: the submission and admin libraries that the commands use,
//     and the load generator built on them.
//
// The roles meet only on the wire: scheduler, worker and client import
// wire and schema, never each other.
package transport
