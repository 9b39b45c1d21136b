package sshexec_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"hpcgate/batch"
	"hpcgate/batch/sshexec"
)

// quiet keeps the pool's connection log out of the examples' output.
var quiet = slog.New(slog.DiscardHandler)

// A pool in certificate mode: the hub signs a short-lived certificate for
// each user with the site's user CA, so commands run as the user, without
// sudo. The login node's host key is checked against known_hosts.
func Example() {
	node := sshexec.LoginNodeForExamples() // a real sshd on loopback
	hostKeys, err := sshexec.LoadKnownHosts(node.KnownHosts)
	if err != nil {
		log.Fatal(err)
	}
	algos, err := sshexec.KnownHostAlgorithms(node.KnownHosts, node.Addr)
	if err != nil {
		log.Fatal(err)
	}
	ca, err := sshexec.LoadSigner(node.UserCA)
	if err != nil {
		log.Fatal(err)
	}
	pool, err := sshexec.New(sshexec.Config{
		Addr:              node.Addr,
		HostKeyCallback:   hostKeys,
		HostKeyAlgorithms: algos,
		Mode:              sshexec.ModeCertificate,
		CASigner:          ca,
		ServiceUser:       "hpcgate",
		Logger:            quiet,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	out, err := pool.Run(context.Background(), batch.Command{User: "alice", Argv: []string{"id", "-un"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s", out)
	// Output: alice
}

// A pool in sudo mode: one connection as the service account, which runs
// each user's commands with `sudo -n -u USER --` (the login node's sudoers
// allows it the scheduler commands). A script goes on stdin, never on the
// command line.
func Example_sudo() {
	node := sshexec.LoginNodeForExamples()
	hostKeys, err := sshexec.LoadKnownHosts(node.KnownHosts)
	if err != nil {
		log.Fatal(err)
	}
	algos, err := sshexec.KnownHostAlgorithms(node.KnownHosts, node.Addr)
	if err != nil {
		log.Fatal(err)
	}
	key, err := sshexec.LoadSigner(node.ServiceKey)
	if err != nil {
		log.Fatal(err)
	}
	pool, err := sshexec.New(sshexec.Config{
		Addr:              node.Addr,
		HostKeyCallback:   hostKeys,
		HostKeyAlgorithms: algos,
		Mode:              sshexec.ModeSudo,
		ServiceUser:       "hpcgate",
		ServiceSigner:     key,
		Logger:            quiet,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	script := "#!/bin/bash\n#SBATCH --time=01:00:00\nexec jupyterhub-singleuser\n"
	out, err := pool.Run(context.Background(), batch.Command{
		User:  "alice",
		Argv:  []string{"/usr/bin/cat"}, // sbatch --parsable, in real use
		Stdin: []byte(script),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s", out)
	// Output:
	// #!/bin/bash
	// #SBATCH --time=01:00:00
	// exec jupyterhub-singleuser
}

// A command that fails returns a *batch.CommandError with its exit code and
// stderr, the scheduler's own words; a connection problem would carry
// sshexec.ErrConnection instead.
func ExamplePool_Run_commandError() {
	pool := examplePool()
	defer pool.Close()

	_, err := pool.Run(context.Background(), batch.Command{
		User: "alice",
		Argv: []string{"sh", "-c", "echo 'sbatch: error: invalid partition specified: nosuch' >&2; exit 1"},
	})
	var ce *batch.CommandError
	if errors.As(err, &ce) {
		fmt.Println("exit code:", ce.ExitCode)
		fmt.Print("stderr: ", ce.Stderr)
	}
	fmt.Println("connection problem:", errors.Is(err, sshexec.ErrConnection))
	// Output:
	// exit code: 1
	// stderr: sbatch: error: invalid partition specified: nosuch
	// connection problem: false
}

// DialContext tunnels through the login node, so an http.Transport reaches
// a server that only the cluster can reach (here, a local test server).
func ExamplePool_DialContext() {
	job := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "notebook at %s", r.URL.Path)
	}))
	defer job.Close()
	pool := examplePool()
	defer pool.Close()

	client := &http.Client{Transport: &http.Transport{DialContext: pool.DialContext}}
	resp, err := client.Get(job.URL + "/user/alice/api")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body))
	// Output: 200 OK notebook at /user/alice/api
}

// Every command of one user shares one SSH connection: Stats counts the
// handshakes.
func ExamplePool_Stats() {
	pool := examplePool()
	defer pool.Close()
	for range 10 {
		if _, err := pool.Run(context.Background(), batch.Command{User: "alice", Argv: []string{"true"}}); err != nil {
			log.Fatal(err)
		}
	}
	st := pool.Stats()
	fmt.Printf("%d commands, %d handshake, %d connection open\n", st.Commands, st.Handshakes, st.OpenConns)
	// Output: 10 commands, 1 handshake, 1 connection open
}

// examplePool is the pool of Example.
func examplePool() *sshexec.Pool {
	node := sshexec.LoginNodeForExamples()
	hostKeys, err := sshexec.LoadKnownHosts(node.KnownHosts)
	if err != nil {
		log.Fatal(err)
	}
	algos, err := sshexec.KnownHostAlgorithms(node.KnownHosts, node.Addr)
	if err != nil {
		log.Fatal(err)
	}
	ca, err := sshexec.LoadSigner(node.UserCA)
	if err != nil {
		log.Fatal(err)
	}
	pool, err := sshexec.New(sshexec.Config{
		Addr: node.Addr, HostKeyCallback: hostKeys, HostKeyAlgorithms: algos,
		Mode: sshexec.ModeCertificate, CASigner: ca, ServiceUser: "hpcgate", Logger: quiet,
	})
	if err != nil {
		log.Fatal(err)
	}
	return pool
}
