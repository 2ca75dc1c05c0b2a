package scheduler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/exc"
	"capnproto.org/go/capnp/v3/rpc"
	"capnproto.org/go/capnp/v3/server"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/trace"
	"github.com/ocluster-go/ocluster/transport/schema"
	"github.com/ocluster-go/ocluster/transport/wire"
)

// job is one submitted job as the transport tracks it. Fields are guarded
// by the scheduler's lock unless noted.
//
// A long queue holds many: what the core's ticket knows (client, hint)
// is not repeated here, and the times are the process's monotonic clock.
type job struct {
	s    *Scheduler
	id   uint64
	pool *pool
	// descr is what the client sent, in canonical form: one segment,
	// read again (describe) only when a worker takes the job, since a long
	// queue holds many.
	descr     []byte
	ticket    *core.Ticket
	submitted time.Duration // since epoch
	started   time.Duration

	// assigned, made when someone waits for a worker to take the job, is
	// closed (and forgotten) once a worker has it, the job ended, or the
	// worker it had lost it: the waiter looks again.
	assigned chan struct{}
	worker   *workerConn
	// attempt counts the times the job went back to the queue; a worker's
	// result for an earlier attempt is ignored.
	attempt int
	// moved says why the job last went back to the queue, for the line
	// that tells its log's reader.
	moved string
	// workerJob is the worker's Job object; the scheduler holds one
	// reference until both the job has ended and its ticket is released.
	workerJob schema.Job

	// done is closed when the job has ended; output or err says how. It
	// is made for the first reader of the job (a queued job needs none),
	// and does not change once made.
	done   chan struct{}
	output string
	err    error

	urgent         bool
	cancelRequest  bool
	ticketReleased bool
	ended          bool
}

// epoch is where jobs' times count from.
var epoch = time.Now()

// since is the time from t, read on the process's monotonic clock, to now.
func since(t time.Duration) time.Duration { return time.Since(epoch) - t }

// ---------------------------------------------------------------- submission

type submissionServer struct {
	s      *Scheduler
	client string
}

func (sub *submissionServer) Submit(ctx context.Context, call schema.Submission_submit) error {
	s := sub.s
	args := call.Args()
	if size, err := args.Message().TotalSize(); err != nil || size > s.cfg.MaxDescr {
		return failed("Job description too large (%d bytes; the limit is %d)", size, s.cfg.MaxDescr)
	}
	poolName, err := args.Pool()
	if err != nil {
		return err
	}
	descr, err := args.Descr()
	if err != nil {
		return err
	}
	hint, err := wire.ValidateDescr(descr)
	if err != nil {
		return exc.New(exc.Failed, "", "Bad job description: "+err.Error())
	}
	// The arguments go away when this method returns: keep a copy, in a
	// buffer of its own size since a long queue holds many.
	canonical, err := capnp.Canonicalize(capnp.Struct(descr))
	if err != nil {
		return err
	}
	kept := bytes.Clone(canonical)
	var j *job
	var failure error
	s.locked(func(st *owned) {
		if !st.core.HasClient(sub.client) {
			failure = errRevoked
			return
		}
		p := s.pools[poolName]
		if p == nil {
			failure = failed("Pool ID %q not one of {%s}", poolName, s.poolNames())
			return
		}
		j = &job{s: s, pool: p, urgent: args.Urgent(), descr: kept, submitted: since(0)}
		t, err := p.core.Submit(sub.client, core.Job{Label: showLabel(hint), Hint: hint, Estimate: descr.Estimate(), Payload: j}, j.urgent)
		if err != nil {
			failure = err
			return
		}
		j.ticket, j.id = t, t.ID()
		s.enqueued(st, j)
		p.stats.submitted(sub.client)
		s.record(st, trace.Event{Kind: trace.Submit, Pool: p.name, Job: j.id, Client: sub.client, Hint: hint, Urgent: j.urgent})
	})
	if failure != nil {
		return failure
	}
	s.log.Info("Received new job request", "client", sub.client, "pool", poolName, "urgent", j.urgent, "job", j.id)
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetTicket(wire.Client[schema.Ticket](lazyTickets, ticketServer{j: j}))
}

// ---------------------------------------------------------------- ticket

// ticketServer is one ticket. A long queue holds many, and clients call
// few of them: each gets its server at its first call (see wire.Lazy).
type ticketServer struct {
	j *job
}

var lazyTickets = wire.NewLazy(func(t ticketServer) *server.Server { return schema.Ticket_NewServer(t) })

func (t ticketServer) Job(ctx context.Context, call schema.Ticket_job) error {
	call.Go()
	j := t.j
	workerJob, attempt, err := j.current(ctx)
	if ctx.Err() != nil {
		workerJob.Release()
		return ctx.Err()
	}
	if !workerJob.IsValid() {
		if err == nil {
			err = exc.New(exc.Failed, "", "the job never started")
		}
		return err
	}
	res, err := call.AllocResults()
	if err != nil {
		workerJob.Release()
		return err
	}
	j.s.locked(func(*owned) {
		if j.done == nil {
			j.done = make(chan struct{})
		}
	})
	return res.SetJob(wire.Guarded[schema.Job](schema.Job_NewServer(newJobProxy(j, workerJob, attempt))))
}

// current waits until a worker has the job (or it ended) and returns a
// reference to the worker's Job object, if any, and the attempt it is.
func (j *job) current(ctx context.Context) (schema.Job, int, error) {
	for {
		var workerJob schema.Job
		var attempt int
		var err error
		var ended bool
		var assigned chan struct{}
		j.s.locked(func(*owned) {
			workerJob, attempt, err, ended = j.workerJob, j.attempt, j.err, j.ended
			if workerJob.IsValid() {
				workerJob = workerJob.AddRef()
			} else if !ended {
				if j.assigned == nil {
					j.assigned = make(chan struct{})
				}
				assigned = j.assigned
			}
		})
		if workerJob.IsValid() || ended {
			return workerJob, attempt, err
		}
		select {
		case <-assigned:
			// Look again: it may have been queued again since.
		case <-ctx.Done():
			return schema.Job{}, 0, ctx.Err()
		}
	}
}

func (t ticketServer) Cancel(ctx context.Context, call schema.Ticket_cancel) error {
	call.Go()
	return t.j.cancel(ctx, "Ticket cancelled")
}

// Shutdown runs when the client drops its ticket (or its connection goes):
// as in OCluster, a queued job is cancelled and a running build stopped.
func (t ticketServer) Shutdown() {
	j := t.j
	go func() {
		j.cancel(context.Background(), "Ticket released (cancelled)")
		j.s.locked(func(st *owned) {
			j.ticketReleased = true
			j.releaseWorkerJob(st)
		})
	}()
}

// cancel removes a queued job (it fails with reason), or asks the worker to
// stop a running build.
func (j *job) cancel(ctx context.Context, reason string) error {
	s := j.s
	var target schema.Job
	s.locked(func(st *owned) {
		if j.ended {
			return
		}
		switch j.ticket.State() {
		case core.TicketQueued:
			if err := j.pool.core.Cancel(j.ticket); err != nil {
				s.log.Error("cancel of a queued job failed", "job", j.id, "err", err)
				return
			}
			s.dequeued(st, j)
			s.record(st, trace.Event{Kind: trace.Cancel, Pool: j.pool.name, Job: j.id})
			j.end(st, "", exc.New(exc.Failed, "", reason))
		default:
			j.cancelRequest = true
			if j.workerJob.IsValid() {
				target = j.workerJob.AddRef()
			}
			// Without a Job object yet, started() sends the cancel.
		}
	})
	if !target.IsValid() {
		return nil
	}
	defer target.Release()
	return cancelOn(ctx, target)
}

func cancelOn(ctx context.Context, target schema.Job) error {
	f, release := target.Cancel(ctx, nil)
	defer release()
	_, err := f.Struct()
	return err
}

// enqueued counts a job into its client's queue.
func (s *Scheduler) enqueued(st *owned, j *job) {
	st.queued[clientKey{j.ticket.Client(), j.pool.name, j.urgent}]++
}

// dequeued counts a job out of its client's queue.
func (s *Scheduler) dequeued(st *owned, j *job) {
	k := clientKey{j.ticket.Client(), j.pool.name, j.urgent}
	if st.queued[k]--; st.queued[k] == 0 {
		delete(st.queued, k)
	}
}

// end records how the job ended, once.
func (j *job) end(st *owned, output string, err error) {
	if j.ended {
		return
	}
	j.ended = true
	j.output, j.err = output, err
	j.descr = nil
	j.wake()
	if j.done == nil {
		j.done = closed
	} else {
		close(j.done)
	}
	j.releaseWorkerJob(st)
}

// closed is a channel closed from the start.
var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// wake tells whoever waits in current that the job's worker changed.
func (j *job) wake() {
	if j.assigned != nil {
		close(j.assigned)
		j.assigned = nil
	}
}

// describe reads a description kept by Submit.
func describe(descr []byte) (schema.JobDescr, error) {
	if descr == nil {
		return schema.JobDescr{}, errors.New("the job has ended")
	}
	return schema.ReadRootJobDescr(&capnp.Message{Arena: capnp.SingleSegment(descr)})
}

// releaseWorkerJob drops the scheduler's reference to the worker's Job
// once nobody can ask for it through the ticket.
func (j *job) releaseWorkerJob(*owned) {
	if j.ended && j.ticketReleased && j.workerJob.IsValid() {
		j.workerJob.Release()
		j.workerJob = schema.Job{}
	}
}

// started hands a job to the worker whose pop took it, and watches it
// until it ends.
func (s *Scheduler) started(j *job, wc *workerConn, workerJob schema.Job, attempt int) {
	var cancel, lost, stop bool
	s.locked(func(st *owned) {
		if j.ended || wc.gone || j.attempt != attempt {
			// The job left this worker between the pop and now: lost
			// with it, or moved off it by the admin. A worker still
			// there must not run it.
			lost, stop = true, !wc.gone
			return
		}
		j.worker = wc
		j.workerJob = workerJob
		wc.jobs[j.id] = j
		j.wake()
		cancel = j.cancelRequest
		j.started = since(0)
		j.pool.stats.started(j.ticket.Client(), j.urgent, j.started-j.submitted, j.ticket.Job().Hint != "", j.ticket.WasCached())
		s.record(st, trace.Event{Kind: trace.Start, Pool: j.pool.name, Job: j.id, Worker: wc.name, Cached: j.ticket.WasCached()})
	})
	if lost {
		if stop {
			go func() {
				defer workerJob.Release()
				cancelOn(context.Background(), workerJob)
			}()
		} else {
			workerJob.Release()
		}
		return
	}
	if cancel {
		go cancelOn(context.Background(), workerJob)
	}
	go s.watch(j, wc, workerJob, attempt)
}

// watch waits for the worker's result and ends the job with it, unless
// the job was queued again meanwhile.
func (s *Scheduler) watch(j *job, wc *workerConn, workerJob schema.Job, attempt int) {
	f, release := workerJob.Result(context.Background(), nil)
	res, err := f.Struct()
	output := ""
	if err == nil {
		output, err = res.Output()
	}
	release()
	if lostWithConnection(err) {
		// The worker's connection dropped: the job was lost with it, and
		// saying so is the job's story.
		s.workerLost(wc)
		return
	}
	s.locked(func(st *owned) {
		if j.ended || j.attempt != attempt {
			return // lost with its worker already, or moved off it
		}
		outcome := trace.OutcomeOK
		if err != nil {
			outcome = trace.OutcomeFailed
			if j.cancelRequest {
				outcome = trace.OutcomeCancelled
			}
			err = exc.New(exc.Failed, "", wire.RemoteText(err))
		}
		s.finished(st, j, wc, outcome)
		j.end(st, output, err)
	})
}

// lostWithConnection says whether a call failed because the peer's
// connection did, not because the peer answered with a failure. go-capnp
// aborts the calls in flight on a connection that shuts down with a plain
// ErrConnClosed, not a Disconnected exception, and a call whose message
// could not be written (the connection broke under it) with an ordinary
// failure that wraps the write's error; a peer's own failure arrives as
// text, with no network error in its chain.
func lostWithConnection(err error) bool {
	var netErr *net.OpError
	return exc.TypeOf(err) == exc.Disconnected || errors.Is(err, rpc.ErrConnClosed) ||
		errors.As(err, &netErr) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, io.EOF)
}

// finished takes a running job off its worker.
func (s *Scheduler) finished(st *owned, j *job, wc *workerConn, outcome string) {
	if err := wc.core.Finish(j.ticket); err != nil {
		s.log.Error("finish refused by the core", "job", j.id, "worker", wc.name, "err", err)
	}
	delete(wc.jobs, j.id)
	wc.pool.notify()
	j.pool.stats.finished(outcome)
	s.record(st, trace.Event{Kind: trace.Finish, Pool: j.pool.name, Job: j.id, Worker: wc.name, Outcome: outcome, Duration: since(j.started).Seconds()})
}

// requeue puts j, which ran on wc, back in the queue, keeping its place,
// unless its client is cancelling it (it is not worth another worker) or,
// for a counted attempt (its worker lost), it has no attempts left. It
// returns the worker's Job object of the attempt that ended, for the
// caller to cancel or release.
func (s *Scheduler) requeue(st *owned, j *job, wc *workerConn, counted bool, why string) (schema.Job, bool) {
	if j.cancelRequest || wc.core.Requeue(j.ticket, counted) != nil {
		return schema.Job{}, false
	}
	delete(wc.jobs, j.id)
	wc.pool.notify()
	j.pool.stats.finished(trace.OutcomeRequeued)
	ran := 0.0 // taken but never started there: it ran for nothing
	if j.worker == wc {
		ran = since(j.started).Seconds()
	}
	s.record(st, trace.Event{Kind: trace.Finish, Pool: j.pool.name, Job: j.id, Worker: wc.name, Outcome: trace.OutcomeRequeued, Duration: ran})
	s.enqueued(st, j)
	s.log.Info("Job queued again", "job", j.id, "why", why, "worker", wc.name, "attempts", j.ticket.Attempts())
	old := j.workerJob
	j.workerJob = schema.Job{}
	j.worker = nil
	j.attempt++
	j.moved = why
	// Whoever waits for the worker of the attempt that ended wakes, finds
	// none, and waits again.
	j.wake()
	return old, true
}

// ---------------------------------------------------------------- job proxy

// jobProxy is what a client reads a job through: logs come from the
// worker's Job; the result is the scheduler's record of how the job ended,
// so it survives the worker leaving.
//
// A reader tailing a log asks for the bytes after the ones it just got.
// The proxy follows the worker's log for it: once a reader has asked, one
// follower reads the worker's log in order, one call at a time, into a
// buffer of at most logAhead bytes, and stops when the worker says the log
// is complete. A reader's call is answered from that buffer, with all that
// has arrived (up to maxLogReply), or waits until the follower adds to it;
// so the hops overlap instead of adding up, a fast log takes few round
// trips to the reader, and a short log that has ended takes one call on
// each hop. A reader that asks elsewhere than where the buffer is (a
// second reader, or one that jumps about) is answered by a call of its own
// to the worker.
//
// When the job is queued again (its worker lost), the log the reader sees
// goes on with a line saying so and then the next worker's log: offsets
// from base on are that worker's offsets plus base.
type jobProxy struct {
	j    *job
	once sync.Once

	ctx     context.Context // cancelled at Shutdown; bounds the follower
	cancel  context.CancelFunc
	mu      sync.Mutex
	target  schema.Job
	attempt int
	base    int64

	// The follower's buffer: the log from bufStart on, as far as read.
	// following says a follower runs; once it stops, complete says the
	// worker's log ends at bufStart+len(buf), or ferr why it stopped.
	// gen counts followers, so that a replaced one changes nothing;
	// changed is closed and replaced whenever any of these changes.
	buf       []byte
	bufStart  int64
	started   bool // a follower has run from bufStart
	following bool
	complete  bool
	ferr      error
	gen       int
	stop      context.CancelFunc
	changed   chan struct{}
}

const (
	// logAhead is the most log the follower reads ahead of a reader.
	logAhead = 256 << 10
	// maxLogReply is the most log one call through the proxy returns.
	maxLogReply = 64 << 10
)

func newJobProxy(j *job, target schema.Job, attempt int) *jobProxy {
	ctx, cancel := context.WithCancel(context.Background())
	return &jobProxy{j: j, target: target, attempt: attempt, ctx: ctx, cancel: cancel, changed: make(chan struct{})}
}

// logRead is one reply of the worker's log.
type logRead struct {
	data     []byte
	next     int64
	complete bool
	err      error
}

// readLog asks target for its log from start.
func readLog(ctx context.Context, target schema.Job, start int64) logRead {
	fut, release := target.Log(ctx, func(a schema.Job_log_Params) error { a.SetStart(start); return nil })
	defer release()
	r, err := fut.Struct()
	if err != nil {
		return logRead{err: err}
	}
	data, err := r.Log()
	// Empty data is the end of the log, however the worker says it.
	return logRead{data: slices.Clone(data), next: r.Next(), complete: r.Complete() || len(data) == 0, err: err}
}

// fetch asks the worker for the log from the reader's offset start, once.
// Called with p.mu held.
func (p *jobProxy) fetch(ctx context.Context, start int64) logRead {
	target, base := p.target.AddRef(), p.base
	from := start - base
	if start < 0 {
		from = start // counted back from the end of the current worker's log
	}
	p.mu.Unlock()
	defer p.mu.Lock()
	defer target.Release()
	r := readLog(ctx, target, from)
	r.next += base
	return r
}

// changedLocked wakes whoever waits for the follower or its reader.
func (p *jobProxy) changedLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// resetLocked stops the follower and empties its buffer, which from now
// on starts at start.
func (p *jobProxy) resetLocked(start int64) {
	p.gen++
	if p.stop != nil {
		p.stop()
		p.stop = nil
	}
	p.buf, p.bufStart = nil, start
	p.started, p.following, p.complete, p.ferr = false, false, false, nil
	p.changedLocked()
}

// startLocked starts a follower from the reader's offset start.
func (p *jobProxy) startLocked(start int64) {
	p.resetLocked(start)
	ctx, stop := context.WithCancel(p.ctx)
	p.stop = stop
	p.started, p.following = true, true
	go p.follow(ctx, p.gen, p.target.AddRef(), p.base, start)
}

// follow reads the worker's log from the reader's offset next into the
// buffer, one call at a time, while there is room, until the log is
// complete or a read fails.
func (p *jobProxy) follow(ctx context.Context, gen int, target schema.Job, base, next int64) {
	defer target.Release()
	for {
		p.mu.Lock()
		for p.gen == gen && len(p.buf) >= logAhead {
			changed := p.changed
			p.mu.Unlock()
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
			p.mu.Lock()
		}
		p.mu.Unlock()
		r := readLog(ctx, target, next-base)
		p.mu.Lock()
		if p.gen != gen {
			p.mu.Unlock()
			return
		}
		switch {
		case r.err != nil:
			p.ferr, p.following = r.err, false
		default:
			p.buf = append(p.buf, r.data...)
			next += int64(len(r.data))
			if r.complete {
				p.complete, p.following = true, false
			}
		}
		p.changedLocked()
		following := p.following
		p.mu.Unlock()
		if !following {
			return
		}
	}
}

func (p *jobProxy) Shutdown() {
	p.once.Do(func() {
		p.cancel()
		p.mu.Lock()
		p.target.Release()
		p.target = schema.Job{} // reads from now on fail
		p.mu.Unlock()
	})
}

// moved moves the proxy to the job's next worker if the job was queued
// again since the proxy's attempt, and returns the line that tells the
// reader, with the offset the next worker's log starts at.
func (p *jobProxy) moved(ctx context.Context, start int64) ([]byte, int64, bool) {
	p.mu.Lock()
	mine := p.attempt
	p.mu.Unlock()
	if !p.requeuedSince(mine) {
		return nil, 0, false
	}
	target, attempt, _ := p.j.current(ctx)
	if !target.IsValid() {
		return nil, 0, false // it ended before another worker took it
	}
	var worker, why string
	p.j.s.locked(func(*owned) {
		why = p.j.moved
		if p.j.worker != nil {
			worker = p.j.worker.name
		}
	})
	note := []byte(fmt.Sprintf("\n--- %s, so the job was queued again; attempt %d runs on %q ---\n", why, attempt+1, worker))
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil || p.attempt != mine {
		target.Release() // shut down, or moved by another call, meanwhile
		return nil, 0, false
	}
	p.target.Release()
	p.target, p.attempt = target, attempt
	p.base = start + int64(len(note))
	p.resetLocked(p.base)
	return note, p.base, true
}

// requeuedSince says whether the job was queued again since attempt.
func (p *jobProxy) requeuedSince(attempt int) bool {
	var moved bool
	p.j.s.locked(func(*owned) { moved = p.j.attempt != attempt })
	return moved
}

func (p *jobProxy) Log(ctx context.Context, call schema.Job_log) error {
	call.Go()
	start := call.Args().Start()
	p.mu.Lock()
	if base := p.base; start >= 0 && start < base {
		p.mu.Unlock()
		return failed("log offset %d is from before the job moved to another worker; its log goes on from %d", start, base)
	}
	var r logRead
	for {
		end := p.bufStart + int64(len(p.buf))
		inBuffer := p.started && start >= p.bufStart && start <= end
		if !inBuffer && start >= 0 && !p.following {
			p.startLocked(start) // the first read, or one after the follower stopped
			continue
		}
		if !inBuffer {
			r = p.fetch(ctx, start) // not where the follower is
			break
		}
		if start > p.bufStart {
			// The reader has what comes before start: it leaves the
			// buffer, which makes room for the follower.
			p.buf, p.bufStart = p.buf[start-p.bufStart:], start
			p.changedLocked()
		}
		if start < end {
			n := min(end-start, maxLogReply)
			r = logRead{data: p.buf[:n:n], next: start + n, complete: p.complete && start+n == end}
			break
		}
		if !p.following {
			r = logRead{next: start, complete: p.complete, err: p.ferr}
			break
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
		p.mu.Lock()
	}
	attempt := p.attempt
	p.mu.Unlock()
	if r.err != nil || len(r.data) == 0 {
		if note, next, ok := p.moved(ctx, start); ok {
			return p.reply(call, note, next, false)
		}
	}
	if r.err != nil {
		// A worker that went away usually did so with the job: its end
		// says why better than the broken connection does.
		select {
		case <-p.j.done:
			if p.j.err != nil {
				return p.j.err
			}
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
		}
		// The job may have been queued again while the worker's loss was
		// noticed.
		if note, next, ok := p.moved(ctx, start); ok {
			return p.reply(call, note, next, false)
		}
		return exc.New(exc.Failed, "", "reading the log from the worker: "+wire.RemoteText(r.err))
	}
	// The end of a worker's log is the end of the job's only if the job
	// stays where it is; if it moved, the next read finds the note.
	complete := r.complete && (len(r.data) == 0 || !p.requeuedSince(attempt))
	return p.reply(call, r.data, r.next, complete)
}

func (p *jobProxy) reply(call schema.Job_log, data []byte, next int64, complete bool) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	res.SetNext(next)
	res.SetComplete(complete)
	return res.SetLog(data)
}

func (p *jobProxy) Result(ctx context.Context, call schema.Job_result) error {
	call.Go()
	select {
	case <-p.j.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if p.j.err != nil {
		return p.j.err
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetOutput(p.j.output)
}

func (p *jobProxy) Cancel(ctx context.Context, call schema.Job_cancel) error {
	call.Go()
	return p.j.cancel(ctx, "Job cancelled")
}

// showLabel is how a job appears in a pool's show text: its cache hint,
// as OCluster shows it, so that an admin can tell which jobs run where.
func showLabel(hint string) string {
	if hint == "" {
		return "(no cache hint)"
	}
	return hint
}
