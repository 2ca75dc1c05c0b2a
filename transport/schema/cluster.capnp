@0x8fd80eca01a70dca;
# The wire protocol between the scheduler, its workers, clients and admins.

using Go = import "/go.capnp";
$Go.package("schema");
$Go.import("github.com/ocluster-go/ocluster/transport/schema");

# ---------------------------------------------------------------- jobs

struct Secret {
  id    @0 :Text;
  value @1 :Text;
}

struct DockerBuild {
  dockerfile :union {
    contents @0 :Text;   # the Dockerfile itself
    path     @1 :Text;   # a path inside the build context
  }
  pushTarget   @2 :Text;        # "repo:tag"; empty: no push
  pushUser     @3 :Text;        # both or neither, and only with a target
  pushPassword @4 :Text;
  buildArgs    @5 :List(Text);  # "NAME=VALUE"
  squash       @6 :Bool;
  buildkit     @7 :Bool;
  includeGit   @8 :Bool;        # keep .git in the build context
}

struct OBuilderJob {
  spec @0 :Text;                # the build spec, as S-expressions
}

struct CustomJob {
  kind    @0 :Text;
  payload @1 :Data;
}

struct JobDescr {
  action :union {
    dockerBuild @0 :DockerBuild;
    obuilder    @1 :OBuilderJob;
    custom      @2 :CustomJob;
  }
  cacheHint  @3 :Text;
  repository @4 :Text;          # git URL of the build context, if any
  commits    @5 :List(Text);    # none: no context; several: merged
  secrets    @6 :List(Secret);
  estimate   @7 :Float64;       # the client's own estimate of the run time, in seconds; 0: none
}

interface Job {
  log    @0 (start :Int64) -> (log :Data, next :Int64, complete :Bool);
  # The log from byte `start` (a negative start counts from the end): at
  # most 64 KiB, and `next` to ask for the rest. Blocks until there is data
  # or the job has ended; empty data means the log is complete. `complete`
  # says the log ends at `next`, so a reader need not ask again; peers
  # before it never set it, and answer the read at `next` with empty data.
  result @1 () -> (output :Text);
  # Waits for the job's end: its output, or an error saying why it failed.
  cancel @2 () -> ();
}

interface Ticket {
  job    @0 () -> (job :Job);
  # Waits until a worker takes the job.
  cancel @1 () -> ();
  # Removes a queued job, or cancels a running build.
  status @2 () -> (status :QueueStatus);
  # Where the job stands, answered at once: a client polls it while it
  # waits for job, to tell its user. Schedulers before it answer
  # "unimplemented".
}

struct QueueStatus {
  queued   @0 :Bool;    # false: a worker has it, or it has ended
  position @1 :UInt32;  # 1: the next job its queue hands out
  queue    @2 :Text;    # whose queue: "pool NAME", or "worker NAME" (it waits for that worker)
  length   @3 :UInt32;  # jobs in that queue
  waiting  @4 :Text;    # why no worker takes jobs now; empty when one is ready
}

interface Submission {
  submit @0 (pool :Text, descr :JobDescr, urgent :Bool) -> (ticket :Ticket);
}

# ---------------------------------------------------------------- workers

interface Worker {
  enum MetricsSource {
    agent @0;   # the worker's own metrics
    host  @1;   # the node exporter on the worker's 127.0.0.1:9100
  }
  metrics          @0 (source :MetricsSource) -> (contentType :Text, data :Text);
  additionalMetric @1 (name :Text) -> (contentType :Text, data :Text);
  selfUpdate       @2 () -> ();
  # Stop taking jobs, finish the running ones, and exit so that a service
  # manager restarts the new version.
  ping             @3 () -> ();
  # Answers at once: the scheduler asks when another connection registers
  # the same name, to tell a live worker from a dead connection.
}

interface Queue {
  pop       @0 (job :Job) -> (descr :JobDescr);
  # The worker passes the Job object it will run the job as; the scheduler
  # hands it to the job's client.
  setActive @1 (active :Bool, reason :Text) -> ();
  # reason, with active false: why the worker takes no jobs (low disk, a
  # failed health check), for the admin's show and waiting clients. A
  # worker sends it again when the reason changes.
  pruned    @2 (hints :List(Text)) -> ();
  # The worker pruned its build caches and lost these hints, or every hint
  # when the list is empty: the scheduler stops counting on them.
}

interface Registration {
  register @0 (name :Text, worker :Worker, capacity :Int32) -> (queue :Queue);
}

# ---------------------------------------------------------------- admin

interface Progress {
  report @0 (status :Text) -> ();
}

struct WorkerInfo {
  name      @0 :Text;
  active    @1 :Bool;
  connected @2 :Bool;
}

interface PoolAdmin {
  show      @0 () -> (state :Text);
  workers   @1 () -> (workers :List(WorkerInfo));
  worker    @2 (worker :Text) -> (worker :Worker);
  setActive @3 (worker :Text, active :Bool, autoCreate :Bool, force :Bool) -> ();
  # force, with active false: also put the worker's running jobs back in
  # the queue, ahead of later jobs, and cancel their builds (OCluster #169).
  drain     @4 (worker :Text, progress :Progress) -> ();
  update    @5 (worker :Text, progress :Progress) -> ();
  setRate   @6 (client :Text, rate :Float64) -> ();
  forget    @7 (worker :Text) -> ();
}

interface Admin {
  pools        @0 () -> (names :List(Text));
  pool         @1 (name :Text) -> (pool :PoolAdmin);
  addClient    @2 (id :Text) -> (submission :Submission, capFile :Text);
  removeClient @3 (id :Text) -> ();
  listClients  @4 () -> (clients :List(Text));
}

# ---------------------------------------------------------------- bootstrap

interface Bootstrap {
  enum Kind {
    admin        @0;
    registration @1;
    submission   @2;
  }
  restore @0 (secret :Text) -> (cap :Capability, kind :Kind);
  # The capability a .cap file's secret grants, and what kind it is.
}
