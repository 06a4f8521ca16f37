package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/batch"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/remote"
	"github.com/stretchr/testify/require"
)

// ca is a test certificate authority.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // its certificate, PEM
}

var serial int64

func newCA(t *testing.T, dir, name string) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	c := &ca{cert: cert, key: key, file: filepath.Join(dir, name+".pem")}
	require.NoError(t, os.WriteFile(c.file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return c
}

// issue writes a certificate for 127.0.0.1 signed by c, and its key.
func (c *ca) issue(t *testing.T, dir, name string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	return certFile, keyFile
}

func pool(t *testing.T, c *ca) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// TestTLS: a server with a certificate speaks TLS 1.3 and is verified by
// the CA the client names; a client that does not trust the CA, speaks
// plaintext or only TLS 1.2 is refused, and writes nothing.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	tokenFile, _ := writeToken(t, dir)
	mail := filepath.Join(dir, "mail")
	serverCA, otherCA := newCA(t, dir, "server-ca"), newCA(t, dir, "other-ca")
	cert, key := serverCA.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	srv := startMaildirServer(t, mail, tokenFile, "127.0.0.1:0", "-tls-cert", cert, "-tls-key", key)
	require.Contains(t, srv.Stderr(), "TLS 1.3")

	s, err := remote.Dial(bg, srv.addr, "alice", &remote.Options{Token: token, TLS: &tls.Config{RootCAs: pool(t, serverCA)}})
	require.NoError(t, err)
	_, err = s.Append(bg, mailbox.Inbox, mailbox.BytesLiteral([]byte("Subject: over TLS\r\n\r\nhello\r\n")), mailbox.AppendMeta{})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	// Through a template and an auth file naming the CA.
	auth := filepath.Join(dir, "auth-tls")
	require.NoError(t, os.WriteFile(auth, []byte(token+"\nca-file "+serverCA.file+"\n"), 0o600))
	tmpl, err := batch.MustParseTemplate("mailrepl://" + srv.addr + "/{user}").WithAuth(auth)
	require.NoError(t, err)
	st, err := tmpl.OpenReader("alice", batch.OpenOptions{})
	require.NoError(t, err)
	info, err := st.Status(bg, mailbox.Inbox)
	require.NoError(t, err)
	require.EqualValues(t, 2, info.UIDNext)
	require.NoError(t, st.Close())

	for _, tc := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"UntrustedCA", &tls.Config{RootCAs: pool(t, otherCA)}},
		{"SystemRoots", &tls.Config{}},
	} {
		_, err := remote.Dial(bg, srv.addr, "bob", &remote.Options{Token: token, TLS: tc.cfg})
		require.Error(t, err, tc.name)
		require.Contains(t, err.Error(), "certificate", tc.name)
	}
	_, err = remote.Dial(bg, srv.addr, "bob", &remote.Options{Token: token})
	require.Error(t, err, "plaintext to a TLS server")
	conn, err := tls.Dial("tcp", srv.addr, &tls.Config{RootCAs: pool(t, serverCA), MaxVersion: tls.VersionTLS12, NextProtos: []string{"h2"}})
	if err == nil {
		conn.Close()
		t.Fatal("a TLS 1.2 handshake succeeded")
	}
	require.NoDirExists(t, filepath.Join(mail, "bob"))
}

// TestMutualTLS: with -client-ca, a client must present a certificate
// that CA signed, and the token too.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	tokenFile, _ := writeToken(t, dir)
	mail := filepath.Join(dir, "mail")
	serverCA, clientCA, otherCA := newCA(t, dir, "server-ca"), newCA(t, dir, "client-ca"), newCA(t, dir, "other-ca")
	cert, key := serverCA.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	srv := startMaildirServer(t, mail, tokenFile, "127.0.0.1:0", "-tls-cert", cert, "-tls-key", key, "-client-ca", clientCA.file)
	require.Contains(t, srv.Stderr(), "client certificates required")

	good, goodKey := clientCA.issue(t, dir, "client", x509.ExtKeyUsageClientAuth)
	bad, badKey := otherCA.issue(t, dir, "intruder", x509.ExtKeyUsageClientAuth)
	clientCfg := func(certFile, keyFile string) *tls.Config {
		cfg := &tls.Config{RootCAs: pool(t, serverCA)}
		if certFile != "" {
			c, err := tls.LoadX509KeyPair(certFile, keyFile)
			require.NoError(t, err)
			cfg.Certificates = []tls.Certificate{c}
		}
		return cfg
	}
	_, err := remote.Dial(bg, srv.addr, "bob", &remote.Options{Token: token, TLS: clientCfg("", "")})
	require.Error(t, err, "no client certificate")
	_, err = remote.Dial(bg, srv.addr, "bob", &remote.Options{Token: token, TLS: clientCfg(bad, badKey)})
	require.Error(t, err, "a client certificate of another CA")
	_, err = remote.Dial(bg, srv.addr, "bob", &remote.Options{Token: "wrong", TLS: clientCfg(good, goodKey)})
	require.ErrorIs(t, err, remote.ErrUnauthenticated, "a good certificate, a wrong token")
	require.NoDirExists(t, filepath.Join(mail, "bob"))

	// The auth file's cert-file and key-file.
	auth := filepath.Join(dir, "auth-mtls")
	require.NoError(t, os.WriteFile(auth, []byte(token+"\nca-file "+serverCA.file+"\ncert-file "+good+"\nkey-file "+goodKey+"\n"), 0o600))
	tmpl, err := batch.MustParseTemplate("mailrepl://" + srv.addr + "/{user}").WithAuth(auth)
	require.NoError(t, err)
	s, err := tmpl.Open("bob", batch.OpenOptions{})
	require.NoError(t, err)
	_, err = s.Append(bg, mailbox.Inbox, mailbox.BytesLiteral([]byte("Subject: mutual\r\n\r\nhello\r\n")), mailbox.AppendMeta{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.DirExists(t, filepath.Join(mail, "bob"))
}
