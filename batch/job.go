package batch

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// JobSpec is everything needed to render and submit one job. Every field is
// validated before it reaches a script: values come from the site's profile
// and limits, never as free text from a form.
type JobSpec struct {
	// Name is unique per job, "hpcgate-<user>-<server>-<nonce>", so a job
	// can be found again even if the hub lost its id.
	Name      string
	User      string
	Partition string // Slurm partition or PBS queue; empty for the default
	Account   string // empty for the user's default
	Cores     int
	MemoryMB  int // 0 for the scheduler's default
	GPUs      int
	Walltime  time.Duration
	// Hold submits the job held (sbatch --hold, qsub -h) so it stays pending
	// until released.
	Hold bool
	// Extra are additional scheduler options from the site config
	// (e.g. "--qos=interactive"), each one argument, validated by the config.
	Extra []string

	// App is what the job runs once it starts.
	App App
	// RunDir is where the job writes its address file and log, relative to
	// the user's home directory unless absolute. Default ".hpcgate".
	RunDir string
}

// App is the program the job starts on the compute node.
type App struct {
	// Argv is the command; "{port}" in any argument is replaced by the port
	// the job picked.
	Argv []string
	// Env is exported before the command runs. Values may hold secrets (the
	// server's API token): they go into the script on stdin, never on a
	// command line.
	Env map[string]string
	// Setup lines run before the app (module loads), from the site config.
	Setup []string
	// BaseURL is the URL prefix the app is served under (/user/alice/),
	// for the {base_url} placeholder.
	BaseURL string
	// Secret, when set, is the job's secret for an app that authenticates
	// with one the hub's proxy presents: the script writes it to
	// JobSpec.SecretFile (mode 0600) with shell builtins, so no command
	// line holds it, and removes the file when the job ends.
	Secret string
}

var (
	reName     = regexp.MustCompile(`^[a-z][a-z0-9-]{0,99}$`)
	reUser     = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)
	reWord     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:+-]{0,63}$`)
	reEnvName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	reOption   = regexp.MustCompile(`^-{1,2}[A-Za-z][A-Za-z0-9_-]*(=[A-Za-z0-9_.:,/=+-]+)?$`)
	reRunDir   = regexp.MustCompile(`^[A-Za-z0-9_./-]{1,200}$`)
	reSecret   = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)
	reBaseURL  = regexp.MustCompile(`^/[A-Za-z0-9_.~%/-]{0,300}$`)
	reHostPort = regexp.MustCompile(`^([A-Za-z0-9_.:-]+)\s+([0-9]{1,5})\s*$`)
)

// ValidUser reports whether name is safe as a Unix user name.
func ValidUser(name string) bool { return reUser.MatchString(name) }

// ValidWord reports whether s is safe as a partition, queue or account name.
func ValidWord(s string) bool { return reWord.MatchString(s) }

// ValidOption reports whether s is one plain scheduler option, "--opt" or
// "--opt=value", as JobSpec.Extra requires; the site config checks its extra
// options with it so a bad one is reported with its line, not at submit.
func ValidOption(s string) bool { return reOption.MatchString(s) }

// Validate checks every field that reaches a script or a command line.
func (s JobSpec) Validate() error {
	var errs []string
	bad := func(field, format string, a ...any) {
		errs = append(errs, field+": "+fmt.Sprintf(format, a...))
	}
	if !reName.MatchString(s.Name) {
		bad("name", "%q must be lower-case letters, digits and dashes", s.Name)
	}
	if !ValidUser(s.User) {
		bad("user", "%q is not a valid user name", s.User)
	}
	if s.Partition != "" && !ValidWord(s.Partition) {
		bad("partition", "%q has characters a partition name cannot have", s.Partition)
	}
	if s.Account != "" && !ValidWord(s.Account) {
		bad("account", "%q has characters an account name cannot have", s.Account)
	}
	if s.Cores < 1 || s.Cores > 100000 {
		bad("cores", "%d is not between 1 and 100000", s.Cores)
	}
	if s.MemoryMB < 0 || s.MemoryMB > 1<<30 {
		bad("memory", "%d MB is out of range", s.MemoryMB)
	}
	if s.GPUs < 0 || s.GPUs > 1024 {
		bad("gpus", "%d is not between 0 and 1024", s.GPUs)
	}
	if s.Walltime < time.Minute || s.Walltime > 366*24*time.Hour {
		bad("walltime", "%s is not between 1m and 366 days", s.Walltime)
	}
	for _, o := range s.Extra {
		if !ValidOption(o) {
			bad("extra", "%q is not a plain scheduler option", o)
		}
	}
	if len(s.App.Argv) == 0 {
		bad("app", "no command")
	}
	for k := range s.App.Env {
		if !reEnvName.MatchString(k) {
			bad("app.env", "%q is not a valid variable name", k)
		}
	}
	if s.App.Secret != "" && !reSecret.MatchString(s.App.Secret) {
		bad("app.secret", "must be 16 to 128 letters, digits, - and _")
	}
	if s.App.BaseURL != "" && (!reBaseURL.MatchString(s.App.BaseURL) || strings.Contains(s.App.BaseURL, "..")) {
		bad("app.base_url", "%q is not a plain URL path", s.App.BaseURL)
	}
	if s.RunDir != "" && (!reRunDir.MatchString(s.RunDir) || strings.Contains(s.RunDir, "..")) {
		bad("run_dir", "%q is not a plain path", s.RunDir)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid job: %s", strings.Join(errs, "; "))
	}
	return nil
}

// RunDirOrDefault is the job's run directory, ".hpcgate" when unset.
func (s JobSpec) RunDirOrDefault() string {
	if s.RunDir == "" {
		return ".hpcgate"
	}
	return s.RunDir
}

// AddrFile is where the job records "host port" once the app listens,
// relative to the user's home unless RunDir is absolute.
func (s JobSpec) AddrFile() string { return s.RunDirOrDefault() + "/" + s.Name + ".addr" }

// SecretFile holds the app's secret while the job runs (App.Secret).
func (s JobSpec) SecretFile() string { return s.RunDirOrDefault() + "/" + s.Name + ".secret" }

// LogFile is the job's combined stdout and stderr.
func (s JobSpec) LogFile() string { return s.RunDirOrDefault() + "/" + s.Name + ".log" }

// SortedEnv returns App.Env as sorted KEY, value pairs, so rendered scripts
// are stable.
func (a App) SortedEnv() [][2]string {
	keys := make([]string, 0, len(a.Env))
	for k := range a.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][2]string, len(keys))
	for i, k := range keys {
		out[i] = [2]string{k, a.Env[k]}
	}
	return out
}

// ParseAddr parses the content of an address file, "host port".
func ParseAddr(b []byte) (host string, port int, err error) {
	m := reHostPort.FindStringSubmatch(strings.TrimSpace(string(b)))
	if m == nil {
		return "", 0, fmt.Errorf("address file %q is not \"host port\"", strings.TrimSpace(string(b)))
	}
	fmt.Sscan(m[2], &port)
	if port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("address file: port %d out of range", port)
	}
	return m[1], port, nil
}

// Quote quotes s for a POSIX shell. Every command argument and every value
// rendered into a script passes through it. A word starting with '=' is
// quoted too: zsh, a common login shell, expands =name to name's path.
func Quote(s string) string {
	if s != "" && s[0] != '=' && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("-_./:=,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// QuoteArgv quotes each argument and joins them with spaces, so that a shell
// runs argv[0] with the rest as its arguments.
func QuoteArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = Quote(a)
		// Unquoted, a leading NAME=value word is a variable assignment and
		// the next word would run instead.
		if i == 0 && q[i] == a && strings.Contains(a, "=") {
			q[i] = "'" + a + "'"
		}
	}
	return strings.Join(q, " ")
}

// FormatWalltime renders d as [D-]HH:MM:SS rounded up to the minute, the form
// both Slurm and PBS accept (PBS without the day part: HH may exceed 24).
func FormatWalltime(d time.Duration) string {
	mins := int((d + time.Minute - 1) / time.Minute)
	return fmt.Sprintf("%02d:%02d:00", mins/60, mins%60)
}

var rePlaceholder = regexp.MustCompile(`\{(port|host|base_url|secret_file|workdir)\}`)

// ShellWord renders s as one shell word in which "{port}" and "{host}"
// expand, when the script runs, to the port and host the job picked
// ($HPCGATE_PORT and $HPCGATE_HOST), and {base_url}, {secret_file} and
// {workdir} to $HPCGATE_BASE_URL, $HPCGATE_SECRET_FILE and
// $HPCGATE_WORKDIR (the "app-files" piece of the job templates sets them).
// Everything else is quoted literally.
func ShellWord(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range rePlaceholder.FindAllStringSubmatchIndex(s, -1) {
		if m[0] > last {
			b.WriteString(Quote(s[last:m[0]]))
		}
		b.WriteString(`"${HPCGATE_` + strings.ToUpper(s[m[2]:m[3]]) + `}"`)
		last = m[1]
	}
	if last < len(s) || b.Len() == 0 {
		b.WriteString(Quote(s[last:]))
	}
	return b.String()
}

// ShellCommand renders Argv as a shell command line with ShellWord.
func (a App) ShellCommand() string {
	w := make([]string, len(a.Argv))
	for i, arg := range a.Argv {
		w[i] = ShellWord(arg)
	}
	return strings.Join(w, " ")
}
