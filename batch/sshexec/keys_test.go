package sshexec

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"hpcgate/batch"
)

func TestHostKeyRefused(t *testing.T) {
	n := newLoginNode(t)
	other, err := writeKey(filepath.Join(t.TempDir(), "other"), "other")
	if err != nil {
		t.Fatal(err)
	}
	hostKey := string(ssh.MarshalAuthorizedKey(n.HostKey))
	tests := []struct {
		name       string
		knownHosts string
		want       string
	}{
		{"empty known_hosts", "", "is unknown"},
		{"known on another port", "[127.0.0.1]:1 " + hostKey, "is unknown"},
		{"changed key", knownHostsLine(n.Addr, other.PublicKey()), "has changed"},
		{"revoked key", "@revoked * " + hostKey + knownHostsLine(n.Addr, n.HostKey), "is revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "known_hosts")
			if err := os.WriteFile(path, []byte(tt.knownHosts), 0o644); err != nil {
				t.Fatal(err)
			}
			hk, err := LoadKnownHosts(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg := n.config(t, ModeCertificate)
			cfg.HostKeyCallback = hk
			cfg.HostKeyAlgorithms = []string{ssh.KeyAlgoED25519} // so the offered key is the one checked below
			p := newPool(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, runErr := p.Run(ctx, batch.Command{User: "alice", Argv: []string{"true"}})
			_, dialErr := p.DialContext(ctx, "tcp", "127.0.0.1:9")
			for _, err := range []error{runErr, dialErr} {
				var hke *HostKeyError
				if !errors.As(err, &hke) || !errors.Is(err, ErrConnection) || errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("err = %v, want a HostKeyError and ErrConnection at once", err)
				}
				for _, want := range []string{tt.want, "127.0.0.1 port " + strconv.Itoa(n.Port), ssh.FingerprintSHA256(n.HostKey), path} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
			}
			if h := p.Stats().Handshakes; h != 0 {
				t.Errorf("%d handshakes completed with a refused host key", h)
			}
		})
	}
}

// TestHostKeyAlgorithmsNeeded shows why Config.HostKeyAlgorithms exists: the
// login node also has an ECDSA key, which x/crypto asks for first, and
// known_hosts lists only its Ed25519 key.
func TestHostKeyAlgorithmsNeeded(t *testing.T) {
	n := newLoginNode(t)
	cfg := n.config(t, ModeCertificate)
	cfg.HostKeyAlgorithms = nil
	p := newPool(t, cfg)
	_, err := p.Run(context.Background(), batch.Command{User: "alice", Argv: []string{"true"}})
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.KeyType != ssh.KeyAlgoECDSA256 {
		t.Fatalf("without HostKeyAlgorithms: err = %v, want the ECDSA key refused", err)
	}
	cfg.HostKeyAlgorithms, err = KnownHostAlgorithms(n.KnownHosts, n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	p = newPool(t, cfg)
	if _, err := p.Run(context.Background(), batch.Command{User: "alice", Argv: []string{"true"}}); err != nil {
		t.Errorf("with KnownHostAlgorithms %v: %v", cfg.HostKeyAlgorithms, err)
	}
}

func TestKnownHostAlgorithms(t *testing.T) {
	ed, err := writeKey(filepath.Join(t.TempDir(), "ed"), "ed")
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, _ := ssh.NewPublicKey(&rsaKey.PublicKey)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ecPub, _ := ssh.NewPublicKey(&ecKey.PublicKey)
	path := filepath.Join(t.TempDir(), "known_hosts")
	content := "[login.example.org]:2222 " + string(ssh.MarshalAuthorizedKey(ed.PublicKey())) +
		"[login.example.org]:2222 " + string(ssh.MarshalAuthorizedKey(rsaPub)) +
		"other.example.org " + string(ssh.MarshalAuthorizedKey(ecPub))
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		want []string
	}{
		{"login.example.org:2222", []string{ssh.KeyAlgoED25519, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}},
		{"other.example.org:22", []string{ssh.KeyAlgoECDSA384}},
		{"login.example.org:22", nil},
		{"unknown.example.org:22", nil},
	}
	for _, tt := range tests {
		got, err := KnownHostAlgorithms(path, tt.addr)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("KnownHostAlgorithms(%s) = %v, %v; want %v", tt.addr, got, err, tt.want)
		}
	}
	if _, err := KnownHostAlgorithms(filepath.Join(t.TempDir(), "missing"), "x:22"); err == nil {
		t.Error("a missing known_hosts file gave no error")
	}
	if _, err := LoadKnownHosts(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("LoadKnownHosts of a missing file gave no error")
	}
}

func TestLoadSigner(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	key, err := writeKey(filepath.Join(dir, "source"), "k")
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := os.ReadFile(filepath.Join(dir, "source"))
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKeyWithPassphrase(ecKey, "k", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	encrypted := pem.EncodeToMemory(block)
	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
		want    string // "" for success
	}{
		{"owner only", plain, 0o600, ""},
		{"read only", plain, 0o400, ""},
		{"world readable", plain, 0o644, "mode 0644 lets group or others access it"},
		{"group readable", plain, 0o640, "mode 0640"},
		{"others writable", plain, 0o602, "mode 0602"},
		{"not a key", []byte("hello\n"), 0o600, "no key found"},
		{"passphrase", encrypted, 0o600, "passphrase-protected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			s, err := LoadSigner(path)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("LoadSigner: %v", err)
			case tt.want == "" && string(s.PublicKey().Marshal()) != string(key.PublicKey().Marshal()):
				t.Error("LoadSigner returned another key")
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path)):
				t.Errorf("LoadSigner = %v, want an error naming %s and containing %q", err, path, tt.want)
			}
		})
	}
	if _, err := LoadSigner(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
}
