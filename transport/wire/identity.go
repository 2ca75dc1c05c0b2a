package wire

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// b64 is how digests and secrets are written in capability files.
var b64 = base64.RawURLEncoding

// Identity is the scheduler's key: it signs the TLS certificate clients
// pin, and the secrets of the admin and pool capabilities derive from it,
// so they stay valid across restarts.
type Identity struct {
	key         ed25519.PrivateKey
	cert        tls.Certificate
	Fingerprint string // base64url SHA-256 of the public key (SubjectPublicKeyInfo DER)
}

// LoadOrCreateIdentity reads the key at path, or creates it (mode 0600)
// when the file does not exist.
func LoadOrCreateIdentity(path string) (*Identity, error) {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		if err := WriteFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
			return nil, fmt.Errorf("creating the secret key: %w", err)
		}
		return newIdentity(key)
	case err != nil:
		return nil, fmt.Errorf("reading the secret key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s is not a PEM private key (PRIVATE KEY block); remove it to have a new key made, which invalidates every .cap file", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	key, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s holds a %T key; this scheduler uses Ed25519 keys", path, parsed)
	}
	return newIdentity(key)
}

func newIdentity(key ed25519.PrivateKey) (*Identity, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "ocluster-scheduler"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(100 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return &Identity{
		key:         key,
		cert:        tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		Fingerprint: b64.EncodeToString(sum[:]),
	}, nil
}

// Derive returns a secret that only the holder of the key can compute.
func (id *Identity) Derive(purpose string) string {
	mac := hmac.New(sha256.New, id.key.Seed())
	mac.Write([]byte("ocluster-go capability: " + purpose))
	return b64.EncodeToString(mac.Sum(nil))
}

func (id *Identity) ServerTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{id.cert}, MinVersion: tls.VersionTLS13}
}

// ErrFingerprint is the error of a connection to a server whose key is not
// the one the capability file names.
var ErrFingerprint = errors.New("the server's key does not match the fingerprint in the .cap file (a different or re-keyed scheduler?)")

// ClientTLS trusts exactly the server key with that fingerprint: no CA, no
// host name.
func ClientTLS(fingerprint string) *tls.Config {
	want, err := b64.DecodeString(fingerprint)
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // VerifyConnection below is the check
		VerifyConnection: func(cs tls.ConnectionState) error {
			if err != nil || len(want) != sha256.Size {
				return fmt.Errorf("the .cap file's fingerprint %q is not a base64url SHA-256", fingerprint)
			}
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			got := sha256.Sum256(cs.PeerCertificates[0].RawSubjectPublicKeyInfo)
			if subtle.ConstantTimeCompare(got[:], want) != 1 {
				return ErrFingerprint
			}
			return nil
		},
	}
}

// SturdyRef is what a .cap file holds:
// capnp://sha-256:<fingerprint>@<host>:<port>/<secret>.
type SturdyRef struct {
	Fingerprint string
	Addr        string // host:port
	Secret      string
}

func (r SturdyRef) String() string {
	return "capnp://sha-256:" + r.Fingerprint + "@" + r.Addr + "/" + r.Secret
}

// ParseSturdyRef reads a capability URI, saying what is wrong with a bad one.
func ParseSturdyRef(s string) (SturdyRef, error) {
	s = strings.TrimSpace(s)
	bad := func(what string) error {
		return fmt.Errorf("not a capability (%s): want capnp://sha-256:FINGERPRINT@HOST:PORT/SECRET", what)
	}
	u, err := url.Parse(s)
	if err != nil {
		return SturdyRef{}, bad(err.Error())
	}
	if u.Scheme != "capnp" {
		return SturdyRef{}, bad(fmt.Sprintf("scheme %q", u.Scheme))
	}
	if u.User == nil || u.User.Username() != "sha-256" {
		return SturdyRef{}, bad("no sha-256 fingerprint")
	}
	fp, _ := u.User.Password()
	if d, err := b64.DecodeString(fp); err != nil || len(d) != sha256.Size {
		return SturdyRef{}, bad("the fingerprint is not a base64url SHA-256")
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return SturdyRef{}, bad("no host:port")
	}
	secret := strings.TrimPrefix(u.Path, "/")
	if secret == "" || strings.Contains(secret, "/") {
		return SturdyRef{}, bad("no secret")
	}
	return SturdyRef{Fingerprint: fp, Addr: u.Host, Secret: secret}, nil
}

// ReadCapFile reads a .cap file.
func ReadCapFile(path string) (SturdyRef, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return SturdyRef{}, fmt.Errorf("reading capability file: %w", err)
	}
	ref, err := ParseSturdyRef(string(data))
	if err != nil {
		return SturdyRef{}, fmt.Errorf("%s: %w", path, err)
	}
	return ref, nil
}

// WriteFileAtomic writes data to path with mode 0600, through a temporary
// file renamed into place, so that a reader never sees half a file and a
// crash leaves the old one.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// NewSecret returns a fresh random secret.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return b64.EncodeToString(b)
}

// HashSecret is what the store keeps of a client secret.
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}
