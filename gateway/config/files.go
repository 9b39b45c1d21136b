package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// fileKind says what CheckFiles requires of a path setting.
type fileKind int

const (
	readable  fileKind = iota // a file the hub reads (certificates, known_hosts)
	secret                    // a readable file no one else may read (keys, passwords)
	created                   // a secret the hub creates when missing
	directory                 // a directory that must exist
	stateDir                  // a directory the hub may create
)

// fileRef is one setting that names a file on the hub's host.
type fileRef struct {
	path string // key path, for messages
	p    *string
	kind fileKind
	// check, if set, judges what the file holds (contents.go).
	check func(name string, b []byte) error
}

// files lists the settings that name files on the hub's host (not paths on
// the cluster, such as run_dir).
func (c *Config) files() []fileRef {
	h := &c.Hub
	refs := []fileRef{
		{"hub.data_dir", &h.DataDir, stateDir, nil},
		{"hub.database_password_file", &h.DatabasePasswordFile, secret, checkPassword},
		{"hub.tls_cert", &h.TLSCert, readable, checkCertificates},
		{"hub.tls_key", &h.TLSKey, secret, func(name string, _ []byte) error { return checkTLSPair(h.TLSCert, name) }},
		{"hub.cookie_secret_file", &h.CookieSecretFile, created, nil},
		{"hub.templates_dir", &h.TemplatesDir, directory, nil},
		{"ldap.ca_file", &c.LDAP.CAFile, readable, checkCertificates},
		{"ldap.bind_password_file", &c.LDAP.BindPasswordFile, secret, checkPassword},
	}
	for i := range c.Clusters {
		l := &c.Clusters[i].Login
		path := fmt.Sprintf("clusters[%d].login.", i)
		refs = append(refs,
			fileRef{path + "known_hosts", &l.KnownHosts, readable, func(name string, b []byte) error {
				return checkKnownHosts(name, b, l.Addr())
			}},
			fileRef{path + "user_ca_key", &l.UserCAKey, secret, checkSSHPrivateKey},
			fileRef{path + "service_key", &l.ServiceKey, secret, checkSSHPrivateKey},
		)
	}
	for i := range c.Services {
		refs = append(refs, fileRef{fmt.Sprintf("services[%d].api_token_file", i), &c.Services[i].APITokenFile, secret, nil})
	}
	return refs
}

// resolvePaths makes relative file paths relative to dir, the site file's
// directory, so a site file means the same from any working directory.
func (c *Config) resolvePaths(dir string) {
	for _, f := range c.files() {
		if *f.p != "" && !filepath.IsAbs(*f.p) {
			*f.p = filepath.Join(dir, *f.p)
		}
	}
}

// CheckFiles reports every file the config names that is missing or
// unreadable, and every key or password file that others than its owner
// may read or write (mode wider than 0600), and every file that does not
// hold what its setting needs (a private key, known_hosts with the login
// node's key, PEM certificates, a password). serve calls it at start-up;
// Validate does not, so an example file checks clean anywhere. Each error
// is a Problem naming the setting, its line and the file.
func (c *Config) CheckFiles() []error {
	var errs []error
	fail := func(path, format string, a ...any) {
		p := Problem{Path: path, Message: fmt.Sprintf(format, a...)}
		if c.src != nil {
			at := c.src.locate(path)
			p.File, p.Line, p.Column = c.src.file, at.line, at.column
		}
		errs = append(errs, p)
	}
	for _, f := range c.files() {
		name := *f.p
		if name == "" {
			continue
		}
		st, err := os.Stat(name)
		switch {
		case (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) && (f.kind == created || f.kind == stateDir):
			// The hub creates it (a data_dir that is a file is reported
			// itself), unless it is under a file: serve would then fail at
			// start with mkdir's words and no line.
			if why := cannotCreate(name); f.kind == stateDir && why != "" {
				fail(f.path, "%s does not exist and cannot be created: %s", name, why)
			}
			continue
		case err != nil:
			fail(f.path, "%s: %v", name, unwrapPathError(err))
			continue
		case f.kind == directory || f.kind == stateDir:
			if !st.IsDir() {
				fail(f.path, "%s is not a directory", name)
			}
			continue
		case st.IsDir():
			fail(f.path, "%s is a directory, not a file", name)
			continue
		}
		fh, err := os.Open(name)
		if err != nil {
			fail(f.path, "%s: %v", name, unwrapPathError(err))
			continue
		}
		b, err := io.ReadAll(io.LimitReader(fh, maxCheckedFile))
		fh.Close()
		if err != nil {
			fail(f.path, "%s: %v", name, unwrapPathError(err))
			continue
		}
		if perm := st.Mode().Perm(); (f.kind == secret || f.kind == created) && perm&^0o600 != 0 {
			fail(f.path, "%s has mode %04o, wider than 0600; it holds a secret: run chmod 600 %s", name, perm, name)
			continue
		}
		if f.check != nil {
			if err := f.check(name, b); err != nil {
				fail(f.path, "%v", err)
			}
		}
	}
	return errs
}

// cannotCreate says why the missing path could never be created (its
// nearest existing ancestor is a file), or "". Write permission is not
// judged: the check may run as another user than the hub, and systemd's
// StateDirectory= makes /var/lib/hpcgate only when the hub starts.
func cannotCreate(name string) string {
	for dir := filepath.Dir(name); ; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		switch {
		case err == nil && !st.IsDir():
			return dir + " is a file"
		case err == nil || dir == filepath.Dir(dir):
			return ""
		}
	}
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// DatabaseURLWithPassword is DatabaseURL with the password from
// DatabasePasswordFile filled in, for the store to connect with;
// DatabaseURL itself never holds the secret.
func (h *Hub) DatabaseURLWithPassword() (string, error) {
	if h.DatabasePasswordFile == "" {
		return h.DatabaseURL, nil
	}
	pw, err := ReadSecret(h.DatabasePasswordFile)
	if err != nil {
		return "", fmt.Errorf("read database password: %w", err)
	}
	u, err := url.Parse(h.DatabaseURL)
	if err != nil {
		return "", fmt.Errorf("parse database_url: %w", err)
	}
	user := ""
	if u.User != nil {
		user = u.User.Username()
	}
	u.User = url.UserPassword(user, pw)
	return u.String(), nil
}

// ReadSecret reads a password file (bind_password_file,
// database_password_file): its first line, without the line ending.
func ReadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSuffix(line, "\r"), nil
}
