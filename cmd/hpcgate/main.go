// Command hpcgate is the hub: it serves the web pages, the JupyterHub
// compatible APIs and the /user/ proxy, and follows every user's batch job.
// main is the only place that wires the adapters (config, store, sshexec,
// the schedulers' table batch/schedulers, ldapauth, proxy, web) together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"hpcgate/batch/schedulers"
	"hpcgate/gateway/config"

	// A cluster's time_zone is checked and used on hubs without the
	// system's zoneinfo files too (a minimal container).
	_ "time/tzdata"
)

// version is set by the Makefile with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand of hpcgate.
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, m *Main, args []string) error
}

var commands []command

// init fills commands: the run functions print usage from it, so a plain
// initializer would be an initialization cycle.
func init() {
	commands = []command{
		{"serve", "-f SITE.yaml", "run the hub", runServe},
		{"check-config", "[-files] [-connect] -f SITE.yaml", "check a site file and print every problem with its line; -connect also tests the directory, each login node and reverse forward", runCheckConfig},
		{"generate-config", "", "print a commented example site file with every key and its default", runGenerateConfig},
		{"token", "[-f SITE.yaml] [-note TEXT] [-expires DURATION] [-scopes LIST] USER", "print a new API token for USER (only its hash is stored)", runToken},
		{"upgrade-db", "-f SITE.yaml", "apply pending database migrations (a SQLite file is backed up first)", runUpgradeDB},
		{"version", "", "print the version", runVersion},
	}
}

// Main holds the program's streams so tests can drive it end to end.
type Main struct {
	Stdout, Stderr io.Writer
}

// errUsage marks an error for which the usage was already printed.
var errUsage = errors.New("usage")

// exitError carries an exit code other than 1.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr}
	os.Exit(m.Run(ctx, os.Args[1:]))
}

// Run runs one subcommand and returns the process exit code.
func (m *Main) Run(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		m.usage(m.Stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, m, args[1:])
		var ee exitError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		case errors.As(err, &ee):
			return ee.code
		}
		fmt.Fprintf(m.Stderr, "hpcgate %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(m.Stderr, "hpcgate: unknown command %q\n\n", args[0])
	m.usage(m.Stderr)
	return 2
}

func (m *Main) usage(w io.Writer) {
	fmt.Fprintf(w, "hpcgate %s: Jupyter on the compute nodes of an HPC cluster, from the browser.\n\nUsage:\n", version)
	for _, c := range commands {
		fmt.Fprintf(w, "  hpcgate %-16s %s\n      %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'hpcgate COMMAND --help' for a command's flags.\n")
}

// flags returns a FlagSet for a subcommand that prints its usage to stderr.
func (m *Main) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("hpcgate "+name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	for _, c := range commands {
		if c.name == name {
			fs.Usage = func() {
				fmt.Fprintf(fs.Output(), "Usage: hpcgate %s %s\n\n%s.\n", name, c.args, c.summary)
				if hasFlags(fs) {
					fmt.Fprintln(fs.Output(), "\nFlags:")
					fs.PrintDefaults()
				}
			}
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parse parses args, printing usage for a bad flag (exit 2) or --help (exit 0).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

// parseNoArgs is parse for a command that takes flags only: a word left
// over is refused rather than ignored, since "hpcgate serve site.yaml"
// would otherwise read the default site file and blame it.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return nil
	}
	arg := fs.Arg(0)
	hint := ""
	if fs.Lookup("f") != nil && (strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml")) {
		hint = fmt.Sprintf(": give the site file with -f %s", arg)
	} else if strings.HasPrefix(arg, "-") {
		hint = ": flags go before other words"
	}
	fmt.Fprintf(fs.Output(), "%s: unexpected argument %q%s\n\n", fs.Name(), arg, hint)
	fs.Usage()
	return errUsage
}

// loadSite reads and checks the site file; a missing one says how to name
// or make one.
func loadSite(path string) (*config.Config, error) {
	cfg, err := config.Load(path, schedulers.Kinds...)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (name the site file with -f or $HPCGATE_CONFIG; \"hpcgate generate-config\" prints one to start from)", err)
	}
	return cfg, err
}

// siteFlag adds -f (the site file). HPCGATE_CONFIG is the default, so
// `hpcgate token alice` works on a hub host without repeating the path.
func siteFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("HPCGATE_CONFIG")
	if def == "" {
		def = "/etc/hpcgate/site.yaml"
	}
	return fs.String("f", def, "site configuration `file` (default from $HPCGATE_CONFIG)")
}

func runVersion(_ context.Context, m *Main, args []string) error {
	fs := m.flags("version")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "hpcgate %s\n", version)
	return nil
}
