package config

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// siteWithFiles is a site file whose file settings are relative, so they
// resolve into the test's directory.
const siteWithFiles = `hub:
  data_dir: data
  tls_cert: tls.crt
  tls_key: tls.key
  templates_dir: templates
ldap:
  url: ldap://127.0.0.1:3389
  user_base_dn: ou=people,dc=example,dc=org
  bind_dn: cn=hpcgate,dc=example,dc=org
  bind_password_file: bind_password
clusters:
  - name: local
    scheduler: slurm
    login:
      host: 127.0.0.1
      known_hosts: known_hosts
      user_ca_key: user_ca
    profiles:
      - name: small
`

// file is one file or directory a TestCheckFiles case creates.
type file struct {
	name string
	mode os.FileMode
	dir  bool
	body string // "" is the good content for the name (goodContents)
}

func TestCheckFiles(t *testing.T) {
	contents := goodContents(t)
	good := []file{
		{"data", 0o700, true, ""}, {"templates", 0o755, true, ""}, {"tls.crt", 0o644, false, ""},
		{"tls.key", 0o600, false, ""}, {"bind_password", 0o400, false, ""}, {"known_hosts", 0o644, false, ""},
		{"user_ca", 0o600, false, ""},
	}
	for _, tc := range []struct {
		name  string
		edit  func(files []file) []file
		wants []string // "path: message" fragments, in order
	}{
		{"all present", func(f []file) []file { return f }, nil},
		{"data_dir created at start", func(f []file) []file { return drop(f, "data") }, nil},
		{"key readable by others", func(f []file) []file { return chmod(f, "user_ca", 0o644) }, []string{
			"site.yaml:17:20: clusters[0].login.user_ca_key: DIR/user_ca has mode 0644, wider than 0600",
		}},
		{"password readable by the group", func(f []file) []file { return chmod(f, "bind_password", 0o640) }, []string{
			"site.yaml:10:23: ldap.bind_password_file: DIR/bind_password has mode 0640, wider than 0600",
		}},
		{"missing files", func(f []file) []file { return drop(drop(f, "tls.crt"), "known_hosts") }, []string{
			"site.yaml:3:13: hub.tls_cert: DIR/tls.crt: no such file or directory",
			"site.yaml:16:20: clusters[0].login.known_hosts: DIR/known_hosts: no such file or directory",
		}},
		{"missing templates dir", func(f []file) []file { return drop(f, "templates") }, []string{
			"site.yaml:5:18: hub.templates_dir: DIR/templates: no such file or directory",
		}},
		{"file where a directory goes", func(f []file) []file {
			return append(drop(f, "data"), file{"data", 0o600, false, ""})
		}, []string{"hub.data_dir: DIR/data is not a directory"}},
		{"directory where a key goes", func(f []file) []file {
			return append(drop(f, "tls.key"), file{"tls.key", 0o700, true, ""})
		}, []string{"hub.tls_key: DIR/tls.key is a directory, not a file"}},
		{"cookie secret readable by others", func(f []file) []file {
			return append(f, file{"data/cookie_secret", 0o644, false, "x"})
		}, []string{"hub.cookie_secret_file: DIR/data/cookie_secret has mode 0644"}},

		// What the files hold: each of these passed before, and the hub
		// failed later without naming the setting.
		{"public key as the CA key", func(f []file) []file {
			return with(f, "user_ca", contents["user_ca.pub"])
		}, []string{"site.yaml:17:20: clusters[0].login.user_ca_key: DIR/user_ca holds a public key; give the private key"}},
		{"passphrase-protected CA key", func(f []file) []file {
			return with(f, "user_ca", contents["user_ca.encrypted"])
		}, []string{"clusters[0].login.user_ca_key: DIR/user_ca is passphrase-protected; the hub needs an unencrypted key"}},
		{"a key file that is no key", func(f []file) []file {
			return with(f, "user_ca", "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
		}, []string{"clusters[0].login.user_ca_key: DIR/user_ca is not an SSH private key"}},
		{"public key as known_hosts", func(f []file) []file {
			return with(f, "known_hosts", contents["user_ca.pub"])
		}, []string{"site.yaml:16:20: clusters[0].login.known_hosts: DIR/known_hosts line 1 is a public key, not a known_hosts entry"}},
		{"known_hosts without the login node's port", func(f []file) []file {
			return with(f, "known_hosts", "[127.0.0.1]:2222 "+contents["user_ca.pub"])
		}, []string{"clusters[0].login.known_hosts: DIR/known_hosts has no key for the login node 127.0.0.1; add it after checking the fingerprint (ssh-keyscan -p 22 127.0.0.1)"}},
		{"known_hosts by host certificate", func(f []file) []file {
			return with(f, "known_hosts", "@cert-authority *.example.org "+contents["user_ca.pub"])
		}, nil},
		{"certificate that is no PEM", func(f []file) []file {
			return with(f, "tls.crt", contents["known_hosts"])
		}, []string{"site.yaml:3:13: hub.tls_cert: DIR/tls.crt holds no PEM certificate"}},
		{"TLS key of another certificate", func(f []file) []file {
			return with(f, "tls.key", contents["other.key"])
		}, []string{"site.yaml:4:12: hub.tls_key: DIR/tls.key does not go with tls_cert DIR/tls.crt"}},
		{"empty password", func(f []file) []file {
			return with(f, "bind_password", "\n")
		}, []string{"site.yaml:10:23: ldap.bind_password_file: DIR/bind_password: the first line, the password, is empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.edit(append([]file(nil), good...)) {
				p := filepath.Join(dir, f.name)
				var err error
				if f.dir {
					err = os.Mkdir(p, f.mode)
				} else {
					body := f.body
					if body == "" {
						body = contents[f.name]
					}
					err = os.WriteFile(p, []byte(body), f.mode)
				}
				if err == nil {
					err = os.Chmod(p, f.mode) // past the umask
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := Parse(filepath.Join(dir, "site.yaml"), []byte(siteWithFiles), testKinds...)
			if err != nil {
				t.Fatal(err)
			}
			errs := cfg.CheckFiles()
			if len(errs) != len(tc.wants) {
				t.Fatalf("got %d problems, want %d: %v", len(errs), len(tc.wants), errs)
			}
			for i, want := range tc.wants {
				want = strings.ReplaceAll(want, "DIR", dir)
				if !strings.Contains(errs[i].Error(), want) {
					t.Errorf("problem %d:\n got %s\nwant …%s…", i, errs[i], want)
				}
			}
		})
	}
}

// TestCheckFilesDataDirCannotBeMade: a data_dir the hub would fail to
// create is reported with its line, not left to serve's mkdir.
func TestCheckFilesDataDirCannotBeMade(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "blocker"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	site := strings.Replace(siteWithFiles, "data_dir: data", "data_dir: blocker/data", 1)
	cfg, err := Parse(filepath.Join(dir, "site.yaml"), []byte(site), testKinds...)
	if err != nil {
		t.Fatal(err)
	}
	var dataDir []string // the other files are missing: not this test's business
	for _, e := range cfg.CheckFiles() {
		if strings.Contains(e.Error(), "hub.data_dir") {
			dataDir = append(dataDir, e.Error())
		}
	}
	want := "site.yaml:2:13: hub.data_dir: " + dir + "/blocker/data does not exist and cannot be created: " + dir + "/blocker is a file"
	if len(dataDir) != 1 || !strings.HasSuffix(dataDir[0], want) {
		t.Errorf("data_dir problems %q, want one ending %q", dataDir, want)
	}
}

// with gives the file name the content body.
func with(files []file, name, body string) []file {
	for i := range files {
		if files[i].name == name {
			files[i].body = body
		}
	}
	return files
}

// goodContents makes what each file of siteWithFiles holds when right: an
// SSH key pair, a known_hosts line for the login node (port 22), a TLS
// certificate with its key and another key, and a password.
func goodContents(t *testing.T) map[string]string {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	encrypted, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "test CA", []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	authorized := string(ssh.MarshalAuthorizedKey(sshPub))
	cert, key := selfSigned(t)
	_, otherKey := selfSigned(t)
	return map[string]string{
		"user_ca":           string(pem.EncodeToMemory(block)),
		"user_ca.encrypted": string(pem.EncodeToMemory(encrypted)),
		"user_ca.pub":       authorized,
		"known_hosts":       "127.0.0.1 " + authorized,
		"tls.crt":           cert,
		"tls.key":           key,
		"other.key":         otherKey,
		"bind_password":     "secret\n",
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hub.example.org"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k}))
}

func drop(files []file, name string) []file {
	var out []file
	for _, f := range files {
		if f.name != name {
			out = append(out, f)
		}
	}
	return out
}

func chmod(files []file, name string, mode os.FileMode) []file {
	for i := range files {
		if files[i].name == name {
			files[i].mode = mode
		}
	}
	return files
}

func TestDatabaseURLWithPassword(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "db_password")
	if err := os.WriteFile(pwFile, []byte("s3cr/t@x\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	site := fmt.Sprintf(`hub:
  database_url: postgres://hpcgate@127.0.0.1:5433/hpcgate?sslmode=disable
  database_password_file: %s
%s`, pwFile, strings.TrimPrefix(siteWithFiles, "hub:\n"))
	cfg, err := Parse(filepath.Join(dir, "site.yaml"), []byte(site), testKinds...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.Hub.DatabaseURLWithPassword()
	if want := "postgres://hpcgate:s3cr%2Ft%40x@127.0.0.1:5433/hpcgate?sslmode=disable"; err != nil || got != want {
		t.Errorf("DatabaseURLWithPassword = %q, %v; want %q", got, err, want)
	}
	if strings.Contains(cfg.Hub.DatabaseURL, "s3cr") {
		t.Errorf("DatabaseURL holds the password: %s", cfg.Hub.DatabaseURL)
	}
	if _, err := Parse("site.yaml", []byte(strings.Replace(site, "hpcgate@127", "hpcgate:inline@127", 1)), testKinds...); err == nil ||
		!strings.Contains(err.Error(), "hub.database_url: holds a password") {
		t.Errorf("a password in database_url: error %v", err)
	}
}
