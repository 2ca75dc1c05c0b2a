// Command ocluster-admin manages a scheduler: its clients and their rates,
// and the workers of its pools.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/ocluster-go/ocluster/cmd/internal/cli"
	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/transport/client"
)

var capPath string

func main() {
	root := &cobra.Command{
		Use:           "ocluster-admin -c admin.cap COMMAND",
		Short:         "Manage an ocluster scheduler",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&capPath, "connect", "c", "", "the admin.cap file the scheduler wrote")
	root.MarkPersistentFlagRequired("connect")
	root.AddCommand(
		addClientCommand(),
		simple("remove-client ID", "Revoke a client", 1, removeClient),
		simple("list-clients", "List the clients", 0, listClients),
		simple("set-rate POOL CLIENT RATE", "Set a client's rate in a pool", 3, setRate),
		showCommand(),
		activeCommand("pause", false),
		activeCommand("unpause", true),
		simple("update POOL [WORKER]", "Restart workers on a new version: one first as a canary, then the rest", -1, update),
		simple("forget POOL [WORKER]", "Forget a disconnected worker", -1, forget),
		execCommand(),
	)
	cli.Execute(root)
}

// session connects with the admin capability and runs f.
func session(f func(ctx context.Context, a *client.Admin) error) error {
	return cli.Connect(capPath, func(ctx context.Context, conn *client.Conn) error {
		a, err := conn.Admin(ctx)
		if err != nil {
			return err
		}
		defer a.Release()
		return f(ctx, a)
	})
}

// withPool runs f on a pool's admin capability.
func withPool(name string, f func(ctx context.Context, p *client.Pool) error) error {
	return session(func(ctx context.Context, a *client.Admin) error {
		p, err := a.Pool(ctx, name)
		if err != nil {
			return err
		}
		defer p.Release()
		return f(ctx, p)
	})
}

// simple makes a command taking exactly n arguments (n < 0: one or two).
func simple(use, short string, n int, run func(cmd *cobra.Command, args []string) error) *cobra.Command {
	args := cobra.ExactArgs(n)
	if n < 0 {
		args = cobra.RangeArgs(1, 2)
	}
	return &cobra.Command{Use: use, Short: short, Args: args, RunE: run}
}

func addClientCommand() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "add-client ID [--out FILE]",
		Short: "Register a client and print its capability (or write it to a file only you can read)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The file is made before the client is registered, so that a
			// name already taken loses no capability; a shell redirection
			// would make it readable by everyone (mode 0644).
			var f *os.File
			if out != "" {
				var err error
				if f, err = os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
					return cli.Usagef("--out: %v (a capability file is never overwritten: remove it or choose another)", err)
				}
				defer f.Close()
			}
			err := session(func(ctx context.Context, a *client.Admin) error {
				capFile, err := a.AddClient(ctx, args[0])
				if err != nil {
					return err
				}
				if f == nil {
					fmt.Fprint(cmd.OutOrStdout(), capFile)
					return nil
				}
				if _, err := f.WriteString(capFile); err != nil {
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s (readable by you only).\n", out)
				return nil
			})
			if err != nil && f != nil {
				os.Remove(out)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the capability to this new file, mode 0600, instead of printing it")
	return cmd
}

func removeClient(cmd *cobra.Command, args []string) error {
	return session(func(ctx context.Context, a *client.Admin) error {
		if err := a.RemoveClient(ctx, args[0]); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Removed client %s: its capability no longer works.\n", args[0])
		return nil
	})
}

func listClients(cmd *cobra.Command, args []string) error {
	return session(func(ctx context.Context, a *client.Admin) error {
		ids, err := a.ListClients(ctx)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			fmt.Fprintln(os.Stderr, "No clients.")
		}
		for _, id := range ids {
			fmt.Fprintln(cmd.OutOrStdout(), id)
		}
		return nil
	})
}

func setRate(cmd *cobra.Command, args []string) error {
	rate, err := strconv.ParseFloat(args[2], 64)
	if err != nil {
		return cli.Usagef("RATE %q is not a number", args[2])
	}
	return withPool(args[0], func(ctx context.Context, p *client.Pool) error {
		if err := p.SetRate(ctx, args[1], rate); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Rate of %s in %s set to %g.\n", args[1], args[0], rate)
		return nil
	})
}

func showCommand() *cobra.Command {
	var terse bool
	cmd := &cobra.Command{
		Use:   "show [POOL [WORKER]]",
		Short: "List the pools, show a pool's state (with what each worker runs), or a worker's",
		Args:  cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if len(args) == 0 {
				return session(func(ctx context.Context, a *client.Admin) error {
					pools, err := a.Pools(ctx)
					for _, p := range pools {
						fmt.Fprintln(out, p)
					}
					return err
				})
			}
			return withPool(args[0], func(ctx context.Context, p *client.Pool) error {
				if len(args) == 1 && !terse {
					state, err := p.Show(ctx)
					fmt.Fprintln(out, strings.TrimSpace(state))
					return err
				}
				workers, err := p.Workers(ctx)
				if err != nil {
					return err
				}
				if len(args) == 1 {
					for _, w := range workers {
						fmt.Fprintln(out, w.Name)
					}
					return nil
				}
				status := "Not found"
				for _, w := range workers {
					if w.Name == args[1] {
						status = "Paused"
						if w.Active {
							status = "Running"
						}
					}
				}
				if !terse {
					status = args[1] + ": " + status
				}
				fmt.Fprintln(out, status)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&terse, "terse", false, "print only the names (or the status)")
	return cmd
}

func describe(w core.WorkerInfo) string {
	var notes []string
	if !w.Connected {
		notes = append(notes, "disconnected")
	}
	if !w.Active {
		notes = append(notes, "paused")
	}
	if len(notes) == 0 {
		return w.Name
	}
	return w.Name + " (" + strings.Join(notes, ", ") + ")"
}

func candidates(workers []core.WorkerInfo) string {
	var lines []string
	for _, w := range workers {
		lines = append(lines, describe(w))
	}
	return strings.Join(lines, "\n")
}

func activeCommand(name string, active bool) *cobra.Command {
	var all, autoCreate, wait, force bool
	cmd := &cobra.Command{
		Use:   name + " POOL [WORKER] [--all] [--auto-create] [--wait]",
		Short: map[bool]string{false: "Pause workers (no new jobs; --wait drains them)", true: "Unpause workers"}[active],
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			return withPool(args[0], func(ctx context.Context, p *client.Pool) error {
				var names []string
				if len(args) == 2 {
					names = []string{args[1]}
				} else {
					workers, err := p.Workers(ctx)
					if err != nil {
						return err
					}
					switch {
					case len(workers) == 0:
						fmt.Fprintln(out, "No workers connected to pool (nothing to do).")
						return nil
					case !all:
						return cli.Usagef("Specify which worker you want to affect (or use --all).\nCandidates are:\n%s", candidates(workers))
					}
					for _, w := range workers {
						if w.Active == active {
							fmt.Fprintf(out, "(worker %q is already done)\n", w.Name)
							continue
						}
						names = append(names, w.Name)
					}
					if len(names) == 0 {
						fmt.Fprintln(out, "Nothing to do.")
						return nil
					}
					fmt.Fprintf(out, "Updating %s…\n", strings.Join(names, ", "))
				}
				for _, n := range names {
					set := p.SetActive
					if force {
						set = func(ctx context.Context, n string, _, _ bool) error { return p.ForcePause(ctx, n) }
					}
					if err := set(ctx, n, active, autoCreate); err != nil {
						return err
					}
				}
				if wait && !active {
					fmt.Fprintln(out, "Waiting for jobs to finish…")
					if err := eachWorker(names, func(n string) error {
						return p.Drain(ctx, n, func(status string) { fmt.Fprintf(out, "%s: %s\n", n, status) })
					}); err != nil {
						return err
					}
				}
				fmt.Fprintln(out, "Success.")
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&all, "all", false, "every worker of the pool")
	f.BoolVar(&autoCreate, "auto-create", false, "also a worker the pool has never seen (it will start paused)")
	if !active {
		f.BoolVar(&wait, "wait", false, "wait for the workers' running jobs to finish, printing progress")
		f.BoolVar(&force, "force", false, "also move the jobs they run back to the queue, ahead of later jobs, stopping their builds")
	}
	return cmd
}

// eachWorker runs f for every worker at once and joins their errors.
func eachWorker(names []string, f func(string) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func update(cmd *cobra.Command, args []string) error {
	out := cmd.OutOrStdout()
	return withPool(args[0], func(ctx context.Context, p *client.Pool) error {
		progress := func(n string) func(string) {
			return func(status string) { fmt.Fprintf(out, "%s: %s\n", n, status) }
		}
		if len(args) == 2 {
			if err := p.Update(ctx, args[1], progress(args[1])); err != nil {
				return err
			}
			fmt.Fprintln(out, "Restarted")
			return nil
		}
		workers, err := p.Workers(ctx)
		if err != nil {
			return err
		}
		var connected, disconnected []string
		for _, w := range workers {
			if w.Connected {
				connected = append(connected, w.Name)
			} else {
				disconnected = append(disconnected, w.Name)
			}
		}
		if len(connected) == 0 {
			return errors.New("No workers connected to pool!")
		}
		fmt.Fprintf(out, "Testing update on first worker in pool: %q\n", connected[0])
		if err := p.Update(ctx, connected[0], progress(connected[0])); err != nil {
			return err
		}
		rest := connected[1:]
		fmt.Fprintf(out, "Canary updated OK. Updating the others: [%s]\n", strings.Join(rest, " "))
		if err := eachWorker(rest, func(n string) error {
			if err := p.Update(ctx, n, progress(n)); err != nil {
				return fmt.Errorf("%q: %w", n, err)
			}
			fmt.Fprintf(out, "%q restarted OK.\n", n)
			return nil
		}); err != nil {
			return fmt.Errorf("failed update(s): %w", err)
		}
		fmt.Fprintln(out, "All pool workers restarted.")
		if len(disconnected) > 0 {
			fmt.Fprintf(out, "WARNING: disconnected workers not updated:\n  %s\n", strings.Join(disconnected, "\n  "))
		}
		return nil
	})
}

func forget(cmd *cobra.Command, args []string) error {
	return withPool(args[0], func(ctx context.Context, p *client.Pool) error {
		if len(args) == 2 {
			if err := p.Forget(ctx, args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Forgot worker %s.\n", args[1])
			return nil
		}
		workers, err := p.Workers(ctx)
		if err != nil {
			return err
		}
		if len(workers) == 0 {
			return errors.New("No workers in pool!")
		}
		var disconnected []core.WorkerInfo
		for _, w := range workers {
			if !w.Connected {
				disconnected = append(disconnected, w)
			}
		}
		if len(disconnected) > 0 {
			workers = disconnected
		}
		return cli.Usagef("Specify which worker you want to forget.\nCandidates are:\n%s", candidates(workers))
	})
}

func execCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "exec POOL -- COMMAND ARG...",
		Short: "Run a command once per worker of a pool, with {} replaced by the worker's name",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withPool(args[0], func(ctx context.Context, p *client.Pool) error {
				workers, err := p.Workers(ctx)
				if err != nil {
					return err
				}
				var names []string
				for _, w := range workers {
					names = append(names, w.Name)
				}
				return eachWorker(names, func(n string) error {
					argv := make([]string, len(args)-1)
					for i, a := range args[1:] {
						argv[i] = strings.ReplaceAll(a, "{}", n)
					}
					c := exec.CommandContext(ctx, argv[0], argv[1:]...)
					c.Stdout, c.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
					if err := c.Run(); err != nil {
						return fmt.Errorf("%s: %w", n, err)
					}
					return nil
				})
			})
		},
	}
}
