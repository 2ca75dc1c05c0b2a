// Package testbed plays a scenario on a live cluster, in one process: a
// scheduler on loopback, the scenario's workers as synthetic worker
// agents, and its clients, all over the real transport (Cap'n Proto over
// TLS). The cluster gets the very jobs the simulator ran for the same
// seed (each job carries what the simulator drew for it, and a worker
// computes its run time from the scenario as the simulator does), and the
// scenario's worker events and random failures happen to it at their
// times: joins, dropped connections, crashes, admin pauses and drains,
// hangs and prunes. Its scheduler runs at the scenario's speed, so that
// its policy reckons in scenario seconds.
//
// It belongs to the commands (it wires the simulator to the transport)
// and must never be imported outside cmd/.
package testbed
