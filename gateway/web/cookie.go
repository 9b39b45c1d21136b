package web

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/hkdf"
)

// minSecretLen is the shortest cookie secret New accepts: 32 bytes, the
// AES-256 key size, so the derived keys carry the full strength.
const minSecretLen = 32

// keys are the secrets derived from the site's cookie secret. Each purpose
// gets its own key (HKDF with a distinct info string), so a token valid for
// one purpose is worthless for another and the raw secret is used nowhere.
type keys struct {
	aead cipher.AEAD // session cookie encryption and authentication
	xsrf []byte      // HMAC key of the synchronizer tokens
}

func deriveKeys(secret []byte) (*keys, error) {
	if len(secret) < minSecretLen {
		return nil, fmt.Errorf("cookie secret has %d bytes, need at least %d", len(secret), minSecretLen)
	}
	derive := func(info string, n int) ([]byte, error) {
		k := make([]byte, n)
		if _, err := io.ReadFull(hkdf.New(sha256.New, secret, nil, []byte(info)), k); err != nil {
			return nil, fmt.Errorf("derive %s key: %w", info, err)
		}
		return k, nil
	}
	enc, err := derive("hpcgate session cookie v1", 32)
	if err != nil {
		return nil, err
	}
	xsrf, err := derive("hpcgate xsrf v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(enc)
	if err != nil {
		return nil, fmt.Errorf("create session cookie cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("create session cookie cipher: %w", err)
	}
	return &keys{aead: aead, xsrf: xsrf}, nil
}

// seal encrypts and authenticates value for the cookie called name. The
// name is the associated data, so a value sealed for one cookie is refused
// under another name.
func (k *keys) seal(name, value string) (string, error) {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(value)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("read nonce: %w", err)
	}
	out := k.aead.Seal(nonce, nonce, []byte(value), []byte(name))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

var errBadCookie = errors.New("cookie is malformed or was not made by this hub")

// open reverses seal; any change to the cookie, its name or the secret
// gives errBadCookie.
func (k *keys) open(name, cookie string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cookie)
	if err != nil || len(raw) < k.aead.NonceSize()+k.aead.Overhead() {
		return "", errBadCookie
	}
	n := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(name))
	if err != nil {
		return "", errBadCookie
	}
	return string(plain), nil
}

// xsrfToken is the synchronizer token for a session (or a login nonce):
// HMAC-SHA256 under the xsrf key, so it needs no storage and dies with the
// session.
func (k *keys) xsrfToken(purpose, id string) string {
	m := hmac.New(sha256.New, k.xsrf)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkXSRF compares a presented token with the expected one in constant
// time.
func (k *keys) checkXSRF(purpose, id, presented string) bool {
	if presented == "" || id == "" {
		return false
	}
	want := k.xsrfToken(purpose, id)
	return hmac.Equal([]byte(want), []byte(presented))
}

// randomID returns n random bytes, base64url encoded.
func randomID(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
