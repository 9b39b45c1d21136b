package sshexec

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is a login node's host key that was refused: unknown, changed
// or revoked. It names everything an administrator needs to check the key
// out of band.
type HostKeyError struct {
	Host, Port  string
	KeyType     string   // of the offered key, e.g. ssh-ed25519
	Fingerprint string   // of the offered key, "SHA256:…" as ssh-keygen -l prints it
	File        string   // the known_hosts file consulted; "" if not from LoadKnownHosts
	Known       []string // "file:line" of the keys known for this host; empty when unknown
	Revoked     bool
	Err         error // the verifier's own error
}

func newHostKeyError(hostname string, remote net.Addr, key ssh.PublicKey, file string, err error) *HostKeyError {
	host, port, splitErr := net.SplitHostPort(hostname)
	if splitErr != nil && remote != nil {
		host, port, _ = net.SplitHostPort(remote.String())
	}
	return &HostKeyError{
		Host: host, Port: port, File: file, Err: err,
		KeyType: key.Type(), Fingerprint: ssh.FingerprintSHA256(key),
	}
}

func (e *HostKeyError) Error() string {
	in := "the known hosts"
	if e.File != "" {
		in = e.File
	}
	switch {
	case e.Revoked:
		return fmt.Sprintf("host key of %s port %s is revoked in %s: refusing %s key %s",
			e.Host, e.Port, in, e.KeyType, e.Fingerprint)
	case len(e.Known) > 0:
		return fmt.Sprintf("host key of %s port %s has changed: %s key %s does not match %s; "+
			"if the login node's key really changed, replace that entry after checking the new fingerprint",
			e.Host, e.Port, e.KeyType, e.Fingerprint, strings.Join(e.Known, ", "))
	case e.File != "":
		return fmt.Sprintf("host key of %s port %s is unknown: %s key %s is not in %s; "+
			"add it after checking the fingerprint (ssh-keyscan -p %s %s)",
			e.Host, e.Port, e.KeyType, e.Fingerprint, in, e.Port, e.Host)
	}
	return fmt.Sprintf("host key of %s port %s refused: %s key %s: %v", e.Host, e.Port, e.KeyType, e.Fingerprint, e.Err)
}

func (e *HostKeyError) Unwrap() error { return e.Err }

// LoadKnownHosts reads an OpenSSH known_hosts file and returns a callback
// that accepts only the keys it lists (hashed names, [host]:port entries,
// @cert-authority and @revoked lines included). A refusal is a *HostKeyError
// naming the host, port, offered key's fingerprint and path.
func LoadKnownHosts(path string) (ssh.HostKeyCallback, error) {
	cb, err := knownhosts.New(path)
	if err != nil {
		return nil, fmt.Errorf("load known hosts: %w", err)
	}
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(hostname, remote, key)
		if err == nil {
			return nil
		}
		he := newHostKeyError(hostname, remote, key, path, err)
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &ke):
			for _, k := range ke.Want {
				he.Known = append(he.Known, fmt.Sprintf("%s:%d", k.Filename, k.Line))
			}
		case errors.As(err, &re):
			he.Revoked = true
		}
		return he
	}, nil
}

// KnownHostAlgorithms returns the host key algorithms to negotiate with addr
// ("host:port") so that it presents a key type path lists for it, for
// Config.HostKeyAlgorithms. Without this, a login node with RSA, ECDSA and
// Ed25519 keys, known only by its Ed25519 key, would be refused: x/crypto
// asks for ECDSA first. It returns nil (the default order) when path has no
// plain key for addr.
func KnownHostAlgorithms(path, addr string) ([]string, error) {
	cb, err := knownhosts.New(path)
	if err != nil {
		return nil, fmt.Errorf("load known hosts: %w", err)
	}
	// The file's keys for addr are only exposed through a refusal: offer a
	// throwaway key, which no entry can match.
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	var ke *knownhosts.KeyError
	if err := cb(addr, &net.TCPAddr{IP: net.IPv4zero}, probe); !errors.As(err, &ke) {
		return nil, nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, k := range ke.Want {
		for _, a := range algorithmsFor(k.Key.Type()) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return algos, nil
}

// algorithmsFor lists the signature algorithms a key type can serve; an RSA
// key signs with SHA-2 as well as the legacy ssh-rsa.
func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// LoadSigner reads an unencrypted OpenSSH (or PEM) private key. It refuses a
// file that group or others may read or write, as OpenSSH does: a CA key or
// the service account's key readable by others hands out every user's login.
func LoadSigner(path string) (ssh.Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load private key: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the mode checked is the mode of
	// what is read.
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load private key: %w", err)
	}
	if mode := st.Mode().Perm(); mode&0o077 != 0 {
		return nil, fmt.Errorf("load private key %s: mode %04o lets group or others access it; chmod 600 it", path, mode)
	}
	pem, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("load private key %s: %w", path, err)
	}
	s, err := ssh.ParsePrivateKey(pem)
	var pp *ssh.PassphraseMissingError
	if errors.As(err, &pp) {
		return nil, fmt.Errorf("load private key %s: it is passphrase-protected; the hub needs an unencrypted key (protect the file instead)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("load private key %s: %w", path, err)
	}
	return s, nil
}
