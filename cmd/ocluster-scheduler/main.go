// Command ocluster-scheduler runs the scheduler: it accepts workers and
// clients over Cap'n Proto (TLS), schedules jobs onto pools of workers, and
// writes the capability files that grant access to it.
package main

import (
	"context"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ocluster-go/ocluster/cmd/internal/cli"
	"github.com/ocluster-go/ocluster/cmd/internal/policyflag"
	"github.com/ocluster-go/ocluster/cmd/internal/server"
	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/trace"
)

func main() {
	var keyFile, listen, public, stateDir, pools, secretsDir, defaultClients, tracePath, policy string
	var metrics string
	var timeScale float64
	var verbose bool
	var settings *policyflag.Flags
	cmd := &cobra.Command{
		Use:   "ocluster-scheduler --capnp-secret-key-file FILE --capnp-listen-address tcp:HOST:PORT --state-dir DIR --pools a,b",
		Short: "Run the build scheduler",
		Long: `Runs the scheduler. On start it writes admin.cap, pool-<name>.cap (one per
pool, for workers) and <id>.cap (for each --default-clients) into
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
			return serve(log, keyFile, listen, public, stateDir, pools, secretsDir, defaultClients, tracePath, policy, override, timeScale, metrics)
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyFile, "capnp-secret-key-file", "", "the scheduler's secret key (created if missing)")
	f.StringVar(&listen, "capnp-listen-address", "", "address to listen on, tcp:HOST:PORT")
	f.StringVar(&public, "capnp-public-address", "", "address written into .cap files, tcp:HOST:PORT (default: the listen address)")
	f.StringVar(&stateDir, "state-dir", "", "folder for the scheduler's database")
	f.StringVar(&pools, "pools", "", "comma-separated pool names")
	f.StringVar(&secretsDir, "secrets-dir", "./capnp-secrets", "folder for the .cap files")
	f.StringVar(&defaultClients, "default-clients", "", "comma-separated clients to create (with <id>.cap) if missing")
	f.StringVar(&metrics, "listen-prometheus", "", "serve Prometheus metrics on this `PORT` (every interface) or HOST:PORT")
	f.StringVar(&tracePath, "trace", "", "record every job and worker event in this file, for replay in ocluster-sim")
	policyflag.AddPolicy(f, &policy, "", "scheduling policy (default "+core.DefaultPolicy+")")
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

func serve(log *slog.Logger, keyFile, listen, public, stateDir, pools, secretsDir, defaultClients, tracePath, policy string, override core.Override, timeScale float64, metrics string) error {
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
	var publicAddr string
	if public != "" {
		if publicAddr, err = tcpAddress("capnp-public-address", public); err != nil {
			return err
		}
	}
	h := trace.Header{Source: "ocluster-scheduler", Pools: poolNames, Policy: policy}
	if h.Policy == "" {
		h.Policy = core.DefaultPolicy
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := server.Start(ctx, server.Config{
		KeyFile:     keyFile,
		Listen:      listenAddr,
		PublicAddr:  publicAddr,
		StateDir:    stateDir,
		SecretsDir:  secretsDir,
		Clients:     clients,
		Pools:       poolNames,
		Policy:      policy,
		Override:    override,
		TimeScale:   timeScale,
		Trace:       tracePath,
		TraceHeader: h,
		Metrics:     metrics,
		Logger:      log,
	})
	if err != nil {
		return err
	}
	defer s.Close()
	if s.MetricsAddr != "" {
		log.Info("Prometheus metrics", "address", s.MetricsAddr)
	}
	log.Info("scheduler running", "listen", s.Addr, "public", s.PublicAddr, "pools", poolNames)
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return nil
	case err := <-s.Served():
		return err
	}
}
