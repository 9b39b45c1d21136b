package batchtest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hpcgate/batch"
)

// ScriptApp is an app for CheckScript: it prints the value of
// HPCGATE_TEST_URL as it sees it, then serves HTTP on 127.0.0.1 at the port
// given as its argument until a signal ends it.
var ScriptApp = batch.App{
	Argv: []string{"python3", "-c", `import http.server, os, sys
print("URL=" + os.environ["HPCGATE_TEST_URL"], flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()`,
		"{port}"},
	Env:   map[string]string{"HPCGATE_TEST_URL": "http://{host}:{port}/x?a=1&b='2' $HOME"},
	Setup: []string{`echo "setup ran with UNSET=${HPCGATE_UNSET_VAR}"`},
}

// Node is how a scheduler starts a job script on its compute node.
type Node struct {
	// Env is added to the job's environment (SLURMD_NODENAME, PBS_NODEFILE).
	Env []string
	// Host is the host name the script must report in its address file.
	Host string
	// LoginShell runs the script as PBS does: a login shell ("-bash")
	// reading it on stdin, whose ~/.bash_logout runs at exit (the scratch
	// home gets the system's /etc/skel/.bash_logout). Otherwise it runs as
	// Slurm does: bash with the script as its file.
	LoginShell bool
}

// CheckScript runs a rendered job script (for a spec whose App is
// ScriptApp) under bash the way node would, in a scratch home directory,
// and checks the contract every job template keeps: the address file
// appears atomically with mode 0600 and "host port"; the app serves on that
// port with placeholders expanded in its environment; the site setup ran; a
// SIGTERM to the script's shell reaches the app, the script reports the
// app's exit status, exits with it and removes the address file.
func CheckScript(t *testing.T, script []byte, spec batch.JobSpec, node Node) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, spec.RunDirOrDefault()), 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(home, "job.sh")
	if err := os.WriteFile(path, script, 0o600); err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	cmd := exec.Command("bash", path)
	if node.LoginShell {
		cmd = exec.Command("bash")
		cmd.Args[0] = "-bash"
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.Stdin = f
		if b, err := os.ReadFile("/etc/skel/.bash_logout"); err == nil {
			if err := os.WriteFile(filepath.Join(home, ".bash_logout"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmd.Dir = "/"
	cmd.Env = append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}, node.Env...)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	})

	addrFile := filepath.Join(home, spec.AddrFile())
	var content []byte
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(addrFile)
		if err == nil {
			content = b
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no address file %s after 20s; log:\n%s", spec.AddrFile(), log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	fi, err := os.Stat(addrFile)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("address file mode %o, want 600", m)
	}
	host, port, err := batch.ParseAddr(content)
	if err != nil {
		t.Fatalf("address file: %v", err)
	}
	if host != node.Host {
		t.Errorf("address file host %q, want %q", host, node.Host)
	}
	if tmps, _ := filepath.Glob(filepath.Join(home, spec.RunDirOrDefault(), "*.tmp")); len(tmps) > 0 {
		t.Errorf("temporary files left beside the address file: %v", tmps)
	}

	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	deadline = time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app does not answer on %s: %v; log:\n%s", url, err, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Only the shell gets the signal: the script must pass it on.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the script did not end 20s after SIGTERM; log:\n%s", log.String())
	}
	out := log.String()
	code := -1
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err == nil {
		code = 0
	}
	// python3 dies of the SIGTERM: status 143 as a shell reports it.
	if code != 143 {
		t.Errorf("script exit code %d, want 143 (the app's); log:\n%s", code, out)
	}
	if _, err := os.Stat(addrFile); !os.IsNotExist(err) {
		t.Errorf("address file still there after the job ended (%v)", err)
	}
	wantURL := fmt.Sprintf("URL=http://%s:%d/x?a=1&b='2' $HOME", node.Host, port)
	for _, want := range []string{
		"setup ran with UNSET=\n",
		wantURL + "\n",
		fmt.Sprintf("%s starting on %s port %d", spec.Name, node.Host, port),
		"the app exited with status 143",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("job log lacks %q:\n%s", want, out)
		}
	}
	if t.Failed() {
		t.Logf("script:\n%s", script)
	}
}

// syncBuffer is a bytes.Buffer safe for the writers exec starts.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// secretApp prints what an app of an auth: token catalogue entry sees: the
// placeholders' values, its secret file's mode and content, and every
// command line on the node (ps), then exits.
var secretApp = batch.App{
	Argv: []string{"bash", "-c", `printf 'BASE=%s WORK=%s\n' "$2" "$3"
stat -c 'MODE=%a SIZE=%s' -- "$1"
printf 'SECRET=%s\n' "$(cat -- "$1")"
ps -eo args | sed 's/^/PS: /'`, "_", "{secret_file}", "{base_url}", "{workdir}"},
	BaseURL: "/hub-base/user/alice/",
	Secret:  "Zm9vYmFyYmF6cXV4LXNlY3JldC0xMjM0NTY3ODkw",
}

// CheckSecret renders a job script whose app takes a secret, runs it on
// bash's stdin as sbatch and qsub hand it over, and checks that the app reads the job's secret
// from a file of mode 0600, that no command line on the node holds the
// secret while the job runs, that {base_url} and {workdir} expand, and
// that the secret file is gone when the job ends.
func CheckSecret(t *testing.T, render func(batch.JobSpec) ([]byte, error), node Node) {
	t.Helper()
	spec := batch.JobSpec{Name: "hpcgate-alice-secret-1", User: "alice", Cores: 1, Walltime: time.Hour,
		RunDir: "run/hpcgate", App: secretApp}
	script, err := render(spec)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, spec.RunDirOrDefault()), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-s")
	if node.LoginShell {
		cmd.Args[0] = "-bash"
	}
	cmd.Stdin = bytes.NewReader(script) // as sbatch and qsub get it
	cmd.Dir = "/"
	cmd.Env = append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}, node.Env...)
	b, err := cmd.CombinedOutput()
	out := string(b)
	if err != nil {
		t.Fatalf("job script: %v\n%s", err, out)
	}
	for _, want := range []string{
		"BASE=/hub-base/user/alice/ WORK=" + home + "\n",
		// The secret alone, without a line break: apps read such files
		// verbatim (Jupyter Server's JUPYTER_TOKEN_FILE).
		fmt.Sprintf("MODE=600 SIZE=%d\n", len(secretApp.Secret)),
		"SECRET=" + secretApp.Secret + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("job log lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "PS: ") && strings.Contains(line, secretApp.Secret) {
			t.Errorf("a command line holds the secret: %s", line)
		}
	}
	if !strings.Contains(out, "PS: ") {
		t.Errorf("ps printed nothing:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(home, spec.SecretFile())); !os.IsNotExist(err) {
		t.Errorf("secret file still there after the job ended (%v)", err)
	}
}
