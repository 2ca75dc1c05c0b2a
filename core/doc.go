// Package core is the scheduler itself: pools of workers, the queues of jobs
// waiting for them, and the policy that decides which worker takes which job.
//
// Both drivers run this same code: the discrete-event simulator (package sim)
// and the production scheduler (package transport). So that the simulator's
// verdict on a policy is what production will do, the core must stay pure:
//
//   - it never reads the wall clock (the driver injects a Clock);
//   - it never starts a goroutine, blocks, or does I/O;
//   - it never lets Go's map iteration order reach a decision or an output;
//   - a waiting pop is state, not a blocked call: the core lists the workers
//     whose pops should run again and the driver resumes them (Worker.Resume);
//   - everything the driver must act on (pops to resume, changes to store,
//     workers whose lease ran out) comes in one value, Scheduler.Ready, which
//     the driver acknowledges with Scheduler.Advance, as etcd's raft does, so
//     that no driver can forget one of them;
//   - what must survive a restart (cache index, rates, known workers and their
//     admin pause, registered clients) is reported as Changes for the driver
//     to store, and a Scheduler can be rebuilt from a Snapshot of them.
//
// The package imports the standard library only.
package core
