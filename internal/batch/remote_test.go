package batch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseRemoteTemplate(t *testing.T) {
	tests := []struct {
		in, want string // want: "" when valid, else part of the error
		server   string
		id       string // ID("alice")
	}{
		{"mailrepl://replica.example.org:7143/{user}", "", "mailrepl://replica.example.org:7143", "mailrepl://replica.example.org:7143/alice"},
		{"mailrepl://127.0.0.1:1/{user}", "", "mailrepl://127.0.0.1:1", "mailrepl://127.0.0.1:1/alice"},
		{"mailrepl://[::1]:7143/{user}", "", "mailrepl://[::1]:7143", "mailrepl://[::1]:7143/alice"},
		{"mailrepl://host/{user}", "want mailrepl://HOST:PORT/{user}", "", ""},
		{"mailrepl://host:7143/", "want mailrepl://HOST:PORT/{user}", "", ""},
		{"mailrepl://host:7143/x/{user}", "want mailrepl://HOST:PORT/{user}", "", ""},
		{"mailrepl://host:7143", "want mailrepl://HOST:PORT/{user}", "", ""},
		{"mailrepl://:7143/{user}", "want mailrepl://HOST:PORT/{user}", "", ""},
		{"mailrepl:/host:7143/{user}", "unknown scheme", "", ""},
	}
	for _, tc := range tests {
		tmpl, err := ParseTemplate(tc.in)
		if tc.want != "" {
			if err == nil || !errors.Is(err, ErrTemplate) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseTemplate(%q) = %v, want an ErrTemplate saying %q", tc.in, err, tc.want)
			}
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.server, tmpl.Server(), tc.in)
		require.True(t, tmpl.Writable(), tc.in)
		require.Equal(t, "mailrepl", tmpl.Scheme())
		id, err := tmpl.ID("alice")
		require.NoError(t, err)
		require.Equal(t, tc.id, id)
		for _, bad := range []string{"../x", "a/b", "x\x00", ".."} {
			_, err := tmpl.ID(bad)
			require.ErrorIs(t, err, ErrUnsafeUser, "ID(%q)", bad)
		}
		_, err = tmpl.Open("alice", OpenOptions{})
		require.ErrorContains(t, err, "no auth file")
	}
	a, b := MustParseTemplate("mailrepl://h:1/{user}"), MustParseTemplate("mailrepl://h:2/{user}")
	require.True(t, a.Same(a))
	require.False(t, a.Same(b))
	require.False(t, a.Same(MustParseTemplate("maildir:h:1/{user}")))
}

func TestReadRemoteAuth(t *testing.T) {
	tests := []struct {
		name, content string
		want          *RemoteAuth
		err           string
	}{
		{"token", "s3cret\n", &RemoteAuth{Token: "s3cret"}, ""},
		{"no newline", "s3cret", &RemoteAuth{Token: "s3cret"}, ""},
		{"everything", "  tok en \n# a comment\n\nca-file /etc/ca.pem\ncert-file c.pem\nkey-file k.pem\nplaintext\n",
			&RemoteAuth{Token: "tok en", CAFile: "/etc/ca.pem", CertFile: "c.pem", KeyFile: "k.pem", Plaintext: true}, ""},
		{"empty", "", nil, "the first line must hold the token"},
		{"blank first line", "\nca-file x\n", nil, "the first line holds no token"},
		{"unknown line", "tok\nverify no\n", nil, ":2: want ca-file PATH"},
		{"ca-file without a path", "tok\nca-file\n", nil, ":2: want"},
		{"plaintext with a value", "tok\nplaintext yes\n", nil, ":2: want"},
		{"cert without key", "tok\ncert-file c.pem\n", nil, "go together"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "auth")
			require.NoError(t, os.WriteFile(p, []byte(tc.content), 0o600))
			got, err := ReadRemoteAuth(p)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.NotContains(t, err.Error(), "s3cret", "the token in an error")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	tmpl := MustParseTemplate("maildir:/srv/{user}")
	_, err := tmpl.WithAuth("x")
	require.ErrorIs(t, err, ErrTemplate)
	_, err = MustParseTemplate("mailrepl://h:1/{user}").WithAuthFlag("target-auth", "")
	require.ErrorContains(t, err, "needs -target-auth FILE")
	same, err := tmpl.WithAuthFlag("source-auth", "")
	require.NoError(t, err)
	require.Equal(t, tmpl, same)
}
