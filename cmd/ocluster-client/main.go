// Command ocluster-client submits a job to a scheduler, tails its log and
// prints its result.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ocluster-go/ocluster/cmd/internal/cli"
	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/transport/client"
)

type common struct {
	capPath  string
	pool     string
	hint     string
	urgent   bool
	secrets  []string
	estimate float64
}

func (c *common) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&c.capPath, "connect", "c", "", "the client's .cap file (from ocluster-admin add-client)")
	f.StringVar(&c.pool, "pool", "", "pool to build on")
	f.StringVar(&c.hint, "cache-hint", "", "jobs with the same hint go to workers that ran one before")
	f.BoolVar(&c.urgent, "urgent", false, "run before all non-urgent jobs")
	f.StringArrayVar(&c.secrets, "secret", nil, "ID:FILE: a secret for the build (repeatable)")
	f.Float64Var(&c.estimate, "estimate", 0, "your estimate of the run time in seconds (0: none)")
	cmd.MarkFlagRequired("connect")
	cmd.MarkFlagRequired("pool")
}

// source reads REPO_URL COMMIT... into the job.
func (c *common) source(job *runners.Job, args []string) error {
	job.Hint, job.Estimate = c.hint, c.estimate
	switch {
	case len(args) == 1:
		return cli.Usagef("no commits requested from repository %q", args[0])
	case len(args) > 1:
		job.Repository, job.Commits = args[0], args[1:]
	}
	for _, s := range c.secrets {
		id, path, ok := strings.Cut(s, ":")
		if !ok || id == "" || path == "" {
			return cli.Usagef("--secret %q: want ID:FILE", s)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return cli.Usagef("--secret %s: %w", id, err)
		}
		job.Secrets = append(job.Secrets, runners.Secret{ID: id, Value: string(data)})
	}
	return nil
}

func main() {
	root := &cobra.Command{
		Use:           "ocluster-client",
		Short:         "Submit jobs to an ocluster scheduler",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(dockerCommand(), obuilderCommand())
	cli.Execute(root)
}

func dockerCommand() *cobra.Command {
	var c common
	var localDockerfile, contextDockerfile, pushTo, pushUser, pushPasswordFile string
	var buildArgs []string
	var squash, buildkit, includeGit bool
	cmd := &cobra.Command{
		Use:   "submit-docker -c CAP --pool POOL [REPO_URL COMMIT...] [--local-dockerfile F | --context-dockerfile F]",
		Short: "Submit a Docker build",
		RunE: func(cmd *cobra.Command, args []string) error {
			job := &runners.Job{Docker: &runners.DockerBuild{BuildArgs: buildArgs, Squash: squash, BuildKit: buildkit, IncludeGit: includeGit}}
			if err := c.source(job, args); err != nil {
				return err
			}
			switch {
			case localDockerfile != "" && contextDockerfile != "":
				return cli.Usagef("give --local-dockerfile or --context-dockerfile, not both")
			case localDockerfile != "":
				data, err := os.ReadFile(localDockerfile)
				if err != nil {
					return cli.Usage(err)
				}
				job.Docker.DockerfileContents = string(data)
			default:
				if job.Repository == "" {
					return cli.Usagef("without a repository, give the Dockerfile with --local-dockerfile")
				}
				job.Docker.DockerfilePath = contextDockerfile
				if job.Docker.DockerfilePath == "" {
					job.Docker.DockerfilePath = "Dockerfile"
				}
			}
			if pushTo != "" {
				job.Docker.PushTarget = pushTo
				if (pushUser == "") != (pushPasswordFile == "") {
					return cli.Usagef("give both --push-user and --push-password, or neither")
				}
				if pushPasswordFile != "" {
					password, err := os.ReadFile(pushPasswordFile)
					if err != nil {
						return cli.Usage(err)
					}
					job.Docker.PushUser, job.Docker.PushPassword = pushUser, strings.TrimSpace(string(password))
				}
			} else if pushUser != "" || pushPasswordFile != "" {
				return cli.Usagef("--push-user and --push-password need --push-to")
			}
			return submit(cmd, &c, job)
		},
	}
	c.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&localDockerfile, "local-dockerfile", "", "a Dockerfile on this machine, sent with the job")
	f.StringVar(&contextDockerfile, "context-dockerfile", "", "the Dockerfile's path inside the repository (default Dockerfile)")
	f.StringVar(&pushTo, "push-to", "", "REPO:TAG to push the image to")
	f.StringVar(&pushUser, "push-user", "", "user for the push")
	f.StringVar(&pushPasswordFile, "push-password", "", "file holding the password for the push")
	f.StringArrayVar(&buildArgs, "build-arg", nil, "NAME=VALUE for the build (repeatable)")
	f.BoolVar(&squash, "squash", false, "squash the image's layers")
	f.BoolVar(&buildkit, "buildkit", false, "build with BuildKit")
	f.BoolVar(&includeGit, "include-git", false, "keep .git in the build context")
	return cmd
}

func obuilderCommand() *cobra.Command {
	var c common
	var specFile string
	cmd := &cobra.Command{
		Use:   "submit-obuilder -c CAP --pool POOL --local-file SPEC [REPO_URL COMMIT...]",
		Short: "Submit an OBuilder build",
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := os.ReadFile(specFile)
			if err != nil {
				return cli.Usage(err)
			}
			job := &runners.Job{OBuilder: &runners.OBuilderBuild{Spec: string(spec)}}
			if err := c.source(job, args); err != nil {
				return err
			}
			return submit(cmd, &c, job)
		},
	}
	c.flags(cmd)
	cmd.Flags().StringVar(&specFile, "local-file", "", "the OBuilder spec to build")
	cmd.MarkFlagRequired("local-file")
	return cmd
}

// submit sends the job, tails its log and prints its result.
func submit(cmd *cobra.Command, c *common, job *runners.Job) error {
	return cli.Connect(c.capPath, func(ctx context.Context, conn *client.Conn) error {
		sub, err := conn.Submission(ctx)
		if err != nil {
			return err
		}
		defer sub.Release()
		submitted, err := sub.Submit(ctx, c.pool, job, c.urgent)
		if err != nil {
			return err
		}
		defer submitted.Release()
		status := &statusLines{out: cmd.ErrOrStderr(), now: time.Now}
		if err := submitted.AwaitStart(ctx, time.Second, status.report); err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		fmt.Fprintln(out, "Tailing log:")
		if err := submitted.Tail(ctx, out); err != nil {
			return err
		}
		result, err := submitted.Result(ctx)
		if err != nil {
			fmt.Fprintf(out, "%s.\n", err)
			return cli.ErrShown
		}
		if result != "" {
			fmt.Fprintf(out, "Result: %q\n", result)
		}
		return nil
	})
}
