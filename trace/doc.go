// Package trace defines the trace format: what production records of a
// cluster's life (jobs submitted, started, finished, cancelled; workers
// registered, released, paused) so that the simulator can replay it under
// another policy.
//
// # Format (version 2)
//
// A trace is JSON Lines: one JSON object per line, UTF-8. The first line is
// the header:
//
//	{"format":"ocluster-trace","version":2,"origin":"2026-11-27T08:00:00Z",
//	 "source":"ocluster-scheduler","pools":["linux-x86_64"],"policy":"ocluster"}
//
// origin is the wall-clock time of t = 0 (absent for simulated runs);
// source says what recorded it; pools lists every pool that events name.
//
// Every further line is one event, in the order it happened, with t in
// seconds since origin (never decreasing) and the pool it concerns:
//
//	{"t":12.5,"event":"submit","pool":"p","job":7,"client":"ocaml-ci","hint":"h1","urgent":true}
//	{"t":13.0,"event":"start","pool":"p","job":7,"worker":"build1","cached":true}
//	{"t":28.0,"event":"finish","pool":"p","job":7,"worker":"build1","outcome":"ok","duration":15}
//	{"t":30.0,"event":"cancel","pool":"p","job":8}
//	{"t":0,"event":"register","pool":"p","worker":"build1","capacity":32}
//	{"t":99,"event":"release","pool":"p","worker":"build1"}
//	{"t":50,"event":"pause","pool":"p","worker":"build1"}
//	{"t":60,"event":"unpause","pool":"p","worker":"build1"}
//	{"t":0,"event":"rate","pool":"p","client":"ocaml-ci","rate":100}
//
// job is unique within the trace. cached says whether the job's hint was
// cached on the worker when it started: as the scheduler believed it in
// a production scheduler's trace, as it was in the simulator's and the
// live testbed's. outcome is ok,
// failed (including a job lost with its worker), cancelled (cancelled
// while running) or requeued (lost with its worker, or moved off it by the
// admin, and queued again: a later start is its next attempt); duration is
// how long that run took. A run that did not
// complete may carry planned, how long it would have taken, when the
// recorder knows it (the simulator does). A job cancelled
// while queued has a cancel event and no start. register may carry cache,
// the bound on the worker's hint cache (0 or absent: unbounded). release
// carries crash when the worker died with its builds (a plain release is a
// lost connection: its running jobs fail, but its builds go on holding its
// slots). pause and unpause are the administrator's. prune says the worker
// emptied its build cache and reported it. rate sets a client's
// rate in a pool (1 until set). A submit recorded by the simulator also
// carries what it drew for the job, so that a live cluster can be given
// the same job: size, its quantile in the scenario's run-time
// distributions; stream, which of its client's streams made it (from 0;
// absent: the first); cancel_after, the seconds after submission at which
// its client cancels it unless it has ended. Optional header fields: policy, scenario,
// seed, and sample and window, the sampling interval and fairness window
// (seconds) of the run that recorded it.
//
// A trace whose recorder closed it ends with the line {"event":"end"}, so
// that a reader can tell a complete trace from one whose recorder was
// killed between two lines (Reader.Ending). Version 1 is version 2
// without that record, and is still read.
//
// Readers refuse what they do not understand (another format or a newer
// version, an unknown event, a missing field, time going backwards) with
// an error naming the line.
package trace
