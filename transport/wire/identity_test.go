package wire

import (
	"crypto/sha256"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testFingerprint = b64.EncodeToString(make([]byte, sha256.Size))

func TestParseSturdyRef(t *testing.T) {
	good := "capnp://sha-256:" + testFingerprint + "@sched.example:9000/s3cret"
	ref, err := ParseSturdyRef("  " + good + "\n")
	require.NoError(t, err)
	assert.Equal(t, SturdyRef{Fingerprint: testFingerprint, Addr: "sched.example:9000", Secret: "s3cret"}, ref)
	assert.Equal(t, good, ref.String())

	for _, tc := range []struct{ in, want string }{
		{"http://sha-256:" + testFingerprint + "@h:1/s", `scheme "http"`},
		{"capnp://h:1/s", "no sha-256 fingerprint"},
		{"capnp://sha-1:" + testFingerprint + "@h:1/s", "no sha-256 fingerprint"},
		{"capnp://sha-256:short@h:1/s", "not a base64url SHA-256"},
		{"capnp://sha-256:" + testFingerprint + "@h/s", "no host:port"},
		{"capnp://sha-256:" + testFingerprint + "@h:1/", "no secret"},
		{"capnp://sha-256:" + testFingerprint + "@h:1/a/b", "no secret"},
		{"", `scheme ""`},
	} {
		_, err := ParseSturdyRef(tc.in)
		assert.ErrorContains(t, err, tc.want, "%q", tc.in)
		assert.ErrorContains(t, err, "want capnp://sha-256:FINGERPRINT@HOST:PORT/SECRET", "%q", tc.in)
	}
}

// A capability file written by the scheduler reads back as the same
// capability, and a bad one is named in the error.
func TestCapFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	ref := SturdyRef{Fingerprint: testFingerprint, Addr: "127.0.0.1:9000", Secret: NewSecret()}
	path := filepath.Join(dir, "c.cap")
	require.NoError(t, WriteFileAtomic(path, []byte(ref.String()+"\n")))
	got, err := ReadCapFile(path)
	require.NoError(t, err)
	assert.Equal(t, ref, got)

	bad := filepath.Join(dir, "bad.cap")
	require.NoError(t, WriteFileAtomic(bad, []byte("nonsense")))
	_, err = ReadCapFile(bad)
	assert.ErrorContains(t, err, bad+": not a capability")
}

// Whatever a .cap file holds, parsing it either fails or gives a
// capability that prints as a URI parsing back to itself.
func FuzzParseSturdyRef(f *testing.F) {
	f.Add("capnp://sha-256:" + testFingerprint + "@sched.example:9000/s3cret")
	f.Add("capnp://sha-256:" + testFingerprint + "@[::1]:9000/x%2Fy")
	f.Add("capnp://sha-256:@:/")
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := ParseSturdyRef(s)
		if err != nil {
			return
		}
		again, err := ParseSturdyRef(ref.String())
		require.NoError(t, err, "%q printed as %q", s, ref.String())
		assert.Equal(t, ref, again)
	})
}

func TestCheckName(t *testing.T) {
	require.NoError(t, CheckName("worker name", "worker-1.example"))
	for _, tc := range []struct{ name, want string }{
		{"", "empty worker name"},
		{strings.Repeat("x", 201), "longer than 200 bytes"},
		{"a/b", "control character or a slash"},
		{`a\b`, "control character or a slash"},
		{"a\nb", "control character or a slash"},
		{" a", "begins or ends with white space"},
		{"..", "would name a folder"},
	} {
		assert.ErrorContains(t, CheckName("worker name", tc.name), tc.want, "%q", tc.name)
	}
}
