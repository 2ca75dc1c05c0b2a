// Command ocluster-scheduler runs the scheduler: it accepts workers and
// clients over Cap'n Proto (TLS), schedules jobs onto pools of workers, and
// writes the capability files that grant access to it.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ocluster-go/ocluster/cmd/internal/cli"
	"github.com/ocluster-go/ocluster/cmd/internal/policyflag"
	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/store"
	"github.com/ocluster-go/ocluster/trace"
	"github.com/ocluster-go/ocluster/transport"
)

func main() {
	var keyFile, listen, public, stateDir, pools, secretsDir, defaultClients, tracePath, policy string
	var prometheusPort int
	var timeScale float64
	var verbose bool
	var settings *policyflag.Flags
	cmd := &cobra.Command{
		Use:   "ocluster-scheduler --capnp-secret-key-file FILE --capnp-listen-address tcp:HOST:PORT --state-dir DIR --pools a,b",
		Short: "Run the build scheduler",
		Long: `Runs the scheduler. On start it writes admin.cap, pool-<name>.cap (one per
pool, for workers) and submit-<id>.cap (for each --default-clients) into
--secrets-dir. Its key is created on first start and reused; the admin and
pool capabilities stay valid across restarts. Its state (cache index,
rates, known workers and their pauses, clients) lives in --state-dir.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			override, err := settings.Override()
			if err != nil {
				return err
			}
			if policy != "" {
				if err := policyflag.Known(policy); err != nil {
					return cli.Usagef("--policy: %v", err)
				}
			}
			if !(timeScale > 0) || math.IsInf(timeScale, 0) {
				return cli.Usagef("--time-scale %v: must be a finite number more than 0", timeScale)
			}
			return serve(log, keyFile, listen, public, stateDir, pools, secretsDir, defaultClients, tracePath, policy, override, timeScale, prometheusPort)
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyFile, "capnp-secret-key-file", "", "the scheduler's secret key (created if missing)")
	f.StringVar(&listen, "capnp-listen-address", "", "address to listen on, tcp:HOST:PORT")
	f.StringVar(&public, "capnp-public-address", "", "address written into .cap files, tcp:HOST:PORT (default: the listen address)")
	f.StringVar(&stateDir, "state-dir", "", "folder for the scheduler's database")
	f.StringVar(&pools, "pools", "", "comma-separated pool names")
	f.StringVar(&secretsDir, "secrets-dir", "./capnp-secrets", "folder for the .cap files")
	f.StringVar(&defaultClients, "default-clients", "", "comma-separated clients to create (with submit-<id>.cap) if missing")
	f.IntVar(&prometheusPort, "listen-prometheus", 0, "serve Prometheus metrics on this port")
	f.StringVar(&tracePath, "trace", "", "record every job and worker event in this file, for replay in ocluster-sim")
	f.StringVar(&policy, "policy", "", "scheduling policy (default "+core.DefaultPolicy+"; see `ocluster-sim policies`)")
	settings = policyflag.Add(f)
	f.Float64Var(&timeScale, "time-scale", 1, "run the policy's clock this many times faster than the wall clock, for a testbed whose workers and clients play a scenario at that speed (ocluster-stress --speed)")
	f.BoolVarP(&verbose, "verbose", "v", false, "log more")
	for _, required := range []string{"capnp-secret-key-file", "capnp-listen-address", "state-dir", "pools"} {
		cmd.MarkFlagRequired(required)
	}
	cli.Execute(cmd)
}

// tcpAddress reads tcp:HOST:PORT.
func tcpAddress(flag, s string) (string, error) {
	rest, ok := strings.CutPrefix(s, "tcp:")
	if _, _, err := net.SplitHostPort(rest); !ok || err != nil {
		return "", cli.Usagef("--%s %q: want tcp:HOST:PORT", flag, s)
	}
	return rest, nil
}

func serve(log *slog.Logger, keyFile, listen, public, stateDir, pools, secretsDir, defaultClients, tracePath, policy string, override core.Override, timeScale float64, prometheusPort int) error {
	listenAddr, err := tcpAddress("capnp-listen-address", listen)
	if err != nil {
		return err
	}
	var poolNames []string
	for _, p := range strings.Split(pools, ",") {
		if p = strings.TrimSpace(p); p != "" {
			poolNames = append(poolNames, p)
		}
	}
	if len(poolNames) == 0 {
		return cli.Usagef("--pools: give at least one pool name")
	}
	var clients []string
	for _, c := range strings.Split(defaultClients, ",") {
		if c = strings.TrimSpace(c); c != "" {
			clients = append(clients, c)
		}
	}
	for _, dir := range []string{stateDir, secretsDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	id, err := transport.LoadOrCreateIdentity(keyFile)
	if err != nil {
		return err
	}
	st, err := store.Open(filepath.Join(stateDir, "scheduler.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	l, err := net.Listen("tcp", listenAddr)
	if err != nil {
		return err
	}
	publicAddr := l.Addr().String()
	if public != "" {
		if publicAddr, err = tcpAddress("capnp-public-address", public); err != nil {
			return err
		}
	} else if host, _, _ := net.SplitHostPort(listenAddr); host == "" || net.ParseIP(host).IsUnspecified() {
		_, port, _ := net.SplitHostPort(l.Addr().String())
		publicAddr = net.JoinHostPort("127.0.0.1", port)
		log.Warn("listening on every address without --capnp-public-address: the .cap files name 127.0.0.1, which only this machine can reach", "address", publicAddr)
	}
	var tw *trace.Writer
	if tracePath != "" {
		f, err := os.OpenFile(tracePath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("--trace: %w (a trace is never overwritten: move the old one away)", err)
		}
		defer f.Close()
		h := trace.Header{Source: "ocluster-scheduler", Pools: poolNames, Policy: policy}
		if h.Policy == "" {
			h.Policy = core.DefaultPolicy
		}
		if tw, err = trace.NewWriter(f, h); err != nil {
			return err
		}
	}
	s, err := transport.NewScheduler(transport.SchedulerConfig{
		Pools:      poolNames,
		Policy:     policy,
		Override:   override,
		Identity:   id,
		PublicAddr: publicAddr,
		Store:      st,
		Trace:      tw,
		TimeScale:  timeScale,
		Logger:     log,
	})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.WriteCapFiles(secretsDir, clients); err != nil {
		return err
	}
	if prometheusPort != 0 {
		ml, err := net.Listen("tcp", fmt.Sprintf(":%d", prometheusPort))
		if err != nil {
			return fmt.Errorf("--listen-prometheus: %w", err)
		}
		go http.Serve(ml, s.MetricsHandler())
		log.Info("Prometheus metrics", "address", ml.Addr().String())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go s.FlushTraceEvery(ctx)
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	log.Info("scheduler running", "listen", l.Addr().String(), "public", publicAddr, "pools", poolNames)
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return nil
	case err := <-errc:
		return err
	}
}
