package config

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// The checks below read what a file holds, so that check-config -files (and
// serve, before it touches the database) names the setting and its line when
// a sysadmin points a key at the .pub beside it, known_hosts at a key, or a
// CA setting at something that is not PEM. Without them the file passes the
// checks and the hub fails later with the library's words alone ("ssh: no key
// found", "illegal base64 data at input byte 7").

// maxCheckedFile bounds what a check reads: every file here is a few KB.
const maxCheckedFile = 1 << 20

// checkSSHPrivateKey accepts an unencrypted OpenSSH or PEM private key.
func checkSSHPrivateKey(name string, b []byte) error {
	_, err := ssh.ParsePrivateKey(b)
	var pp *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pp):
		return fmt.Errorf("%s is passphrase-protected; the hub needs an unencrypted key (protect the file with mode 0600 instead)", name)
	case isPublicKey(b):
		return fmt.Errorf("%s holds a public key; give the private key (the file without .pub)", name)
	}
	return fmt.Errorf("%s is not an SSH private key: %v", name, err)
}

func isPublicKey(b []byte) bool {
	_, _, _, _, err := ssh.ParseAuthorizedKey(b)
	return err == nil
}

// checkKnownHosts accepts an OpenSSH known_hosts file with at least one key
// for addr ("host:port"), the login node: ssh-keyscan without -p writes
// "host key" where the hub looks for "[host]:port key", and the hub would
// then refuse every connection.
func checkKnownHosts(name string, b []byte, addr string) error {
	certAuthority := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxCheckedFile)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		marker, _, _, _, _, err := ssh.ParseKnownHosts(line)
		if err != nil {
			if isPublicKey(line) {
				return fmt.Errorf("%s line %d is a public key, not a known_hosts entry (host names first); make the file with ssh-keyscan", name, n)
			}
			return fmt.Errorf("%s line %d is not a known_hosts entry: %v", name, n, err)
		}
		certAuthority = certAuthority || marker == "cert-authority"
	}
	cb, err := knownhosts.New(name)
	if err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	if certAuthority {
		return nil // host certificates: a plain key need not be listed
	}
	// The file's keys for addr show only through a refusal: offer a key no
	// entry can match and see whether any was wanted.
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return err
	}
	var ke *knownhosts.KeyError
	if err := cb(addr, &net.TCPAddr{IP: net.IPv4zero}, probe); errors.As(err, &ke) && len(ke.Want) == 0 {
		host, port, _ := net.SplitHostPort(addr)
		return fmt.Errorf("%s has no key for the login node %s; add it after checking the fingerprint (ssh-keyscan -p %s %s)",
			name, knownhosts.Normalize(addr), port, host)
	}
	return nil
}

// checkCertificates accepts a PEM file with at least one X.509 certificate.
func checkCertificates(name string, b []byte) error {
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("%s: certificate %d: %v", name, n+1, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", name)
	}
	return nil
}

// checkTLSPair accepts a key that belongs to the certificate in certFile.
// A certificate that cannot be read is tls_cert's own problem, reported there.
func checkTLSPair(certFile, keyFile string) error {
	if b, err := os.ReadFile(certFile); err != nil || checkCertificates(certFile, b) != nil {
		return nil
	}
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		return fmt.Errorf("%s does not go with tls_cert %s: %v", keyFile, certFile, err)
	}
	return nil
}

// checkPassword accepts a file whose first line (what ReadSecret returns)
// is not empty: an empty LDAP password is an unauthenticated bind, which
// directories answer with success and no rights.
func checkPassword(name string, b []byte) error {
	line, _, _ := strings.Cut(string(b), "\n")
	if strings.TrimSpace(line) == "" {
		return fmt.Errorf("%s: the first line, the password, is empty", name)
	}
	return nil
}
