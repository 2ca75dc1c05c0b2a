// Package store keeps what must survive a restart of the production
// scheduler, in one SQLite database in its state directory: the durable
// state that the core reports as core.Changes (cache index, client rates,
// known workers and their admin pause, registered clients) and the hashed
// secrets of the clients' capability files.
//
// A Store turns batches of changes into transactions (Store.Apply) and reads
// them back as a core.Snapshot (Store.Snapshot), from which core.New rebuilds
// a scheduler; the snapshot equals what core.Snapshot.Apply makes of the same
// changes. A Writer takes changes off the scheduler's hot path: Enqueue only
// copies them into memory, and its own goroutine commits them in batches.
// Client secrets go through AddClient, RemoveClient and LookupSecret.
//
// # Client secrets
//
// The caller hashes a client's secret with SHA-256 and compares what
// LookupSecret finds in constant time; the store never sees a secret in
// clear. A new client is added in this order:
//
//  1. Store.AddClient(id, hash), synchronously, before the capability file
//     is handed out;
//  2. core.Scheduler.AddClient(id): its ClientAdded change reaches
//     Store.Apply later, through the Writer, and only confirms the stored
//     client. Apply fails on a ClientAdded for a client that AddClient
//     never stored (a Writer then keeps retrying and Flush reports it), and
//     does nothing for one that was removed since.
//
// A client is removed by the core's ClientRemoved change through Apply (the
// scheduler's way: enqueue it, then Flush before answering the admin), or
// by Store.RemoveClient (for a tool that works on the database without a
// core). Both revoke the secret (LookupSecret then reports it as revoked)
// and delete the client and its rates; a ClientRemoved for a client that
// is not stored does nothing.
//
// AddClient, RemoveClient and LookupSecret act on committed state, while
// changes may still wait in a Writer: flush it before calling AddClient or
// RemoveClient, so that no queued change about an earlier registration of
// the same id is committed after them.
//
// # Rules
//
// The package must never:
//
//   - make a scheduling decision, or interpret the changes beyond storing
//     them: what they mean is the core's business;
//   - be waited on while the scheduler's lock is held: the driver hands
//     changes to Writer.Enqueue, which never touches the disk, and waits
//     (Writer.Flush) only outside that lock;
//   - drop a change silently: a failed commit is kept, retried, logged and
//     reported by Writer.Flush and Writer.Close;
//   - import a package of the project other than core.
package store
