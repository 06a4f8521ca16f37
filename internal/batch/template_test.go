package batch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

func TestParseTemplate(t *testing.T) {
	tests := []struct {
		in, want string // want: "" when valid, else part of the error
		server   string
	}{
		{"maildir:/srv/mail/{user}", "", "maildir:/srv/mail"},
		{"maildir:/home/{user}/Maildir", "", "maildir:/home"},
		{"maildir:/srv//mail/{user}/", "", "maildir:/srv/mail"},
		{"maildir:/srv/mail/users.{user}.d", "", "maildir:/srv/mail"},
		{"maildir:spool/{user}", "", "maildir:spool"},
		{"maildir:{user}", "", "maildir:."},
		{"imap://host/{user}", "want imap://{user}@HOST:PORT", ""},
		{"imap://admin@host", "does not hold {user}", ""},
		{"imaps://{user}@host:993/INBOX", "nothing may follow", ""},
		{"imaps://{user}@:993", "no host", ""},
		{"imap://{user}@mail.example.org", "", "imap://mail.example.org:143"},
		{"imaps://{user}@mail.example.org", "", "imaps://mail.example.org:993"},
		{"imaps://{user}@example.org@mail.example.org:1993", "", "imaps://mail.example.org:1993"},
		{"imap://{user}@[::1]:10143", "", "imap://[::1]:10143"},
		{"mbox:/var/mail/{user}", "", "mbox:/var/mail"},
		{"loose:/lost+found/{user}", "", "loose:/lost+found"},
		{"Maildir:/srv/{user}", "unknown scheme", ""},
		{"/srv/mail/{user}", "want SCHEME:PATH", ""},
		{":/srv/{user}", "want SCHEME:PATH", ""},
		{"maildir:/srv/mail/alice", "does not hold {user}", ""},
		{"maildir:/srv/{user}/../x", "removes", ""},
	}
	for _, tc := range tests {
		tmpl, err := ParseTemplate(tc.in)
		if tc.want != "" {
			if err == nil || !errors.Is(err, ErrTemplate) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseTemplate(%q) = %v, want an ErrTemplate saying %q", tc.in, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTemplate(%q) = %v", tc.in, err)
			continue
		}
		if got := tmpl.Server(); got != tc.server {
			t.Errorf("ParseTemplate(%q).Server() = %q, want %q", tc.in, got, tc.server)
		}
		scheme, _, _ := strings.Cut(tc.in, ":")
		if tmpl.String() != tc.in || tmpl.Scheme() != scheme || tmpl.Writable() != (scheme == "maildir" || tmpl.IsIMAP()) {
			t.Errorf("ParseTemplate(%q): String %q, Scheme %q", tc.in, tmpl.String(), tmpl.Scheme())
		}
	}
}

func TestIMAPTemplate(t *testing.T) {
	tmpl := MustParseTemplate("imaps://{user}@example.org@mail.example.org")
	login, err := tmpl.Login("alice")
	require.NoError(t, err)
	require.Equal(t, "alice@example.org", login)
	id, err := tmpl.ID("alice")
	require.NoError(t, err)
	require.Equal(t, "imaps://alice@example.org@mail.example.org:993", id)
	cid, err := tmpl.CacheID("alice")
	require.NoError(t, err)
	require.Equal(t, "imap:alice@example.org@mail.example.org:993", cid, "the cache names the server: two servers may share UIDVALIDITYs")
	_, err = tmpl.Login("../x")
	require.ErrorIs(t, err, ErrUnsafeUser)
	// An IMAP store needs credentials.
	_, err = tmpl.Open("alice", OpenOptions{})
	require.ErrorIs(t, err, ErrTemplate)
	// imap:// to a loopback address is plaintext; elsewhere STARTTLS.
	require.Equal(t, "plain", MustParseTemplate("imap://{user}@127.0.0.1:143").imap.security.String())
	require.Equal(t, "starttls", MustParseTemplate("imap://{user}@mail.example.org").imap.security.String())
	require.Equal(t, "tls", MustParseTemplate("imaps://{user}@127.0.0.1").imap.security.String())
}

func TestAuthFile(t *testing.T) {
	dir := t.TempDir()
	write := func(mode os.FileMode, content string) string {
		p := filepath.Join(dir, "auth")
		os.Remove(p)
		require.NoError(t, os.WriteFile(p, []byte(content), mode))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	p := write(0o600, "# logins\nalice secret with spaces \n\nbob bearer:tok.en\n")
	a, err := LoadAuthFile(p)
	require.NoError(t, err)
	got, err := a.Lookup("alice")
	require.NoError(t, err)
	require.Equal(t, "secret with spaces", got.Password)
	got, err = a.Lookup("bob")
	require.NoError(t, err)
	require.Equal(t, "tok.en", got.Token)
	require.Empty(t, got.Password)
	_, err = a.Lookup("carol")
	require.ErrorIs(t, err, ErrAuthFile)

	a, err = LoadAuthFile(write(0o400, "* admin pw\nalice own\n"))
	require.NoError(t, err)
	got, err = a.Lookup("carol")
	require.NoError(t, err)
	require.Equal(t, "carol", got.User)
	require.Equal(t, "admin", got.Admin)
	require.Equal(t, "pw", got.Password)
	got, err = a.Lookup("alice")
	require.NoError(t, err)
	require.Equal(t, "own", got.Password)
	require.Empty(t, got.Admin)

	for _, tc := range []struct {
		mode    os.FileMode
		content string
		want    string
	}{
		{0o640, "alice pw\n", "group or others may read it"},
		{0o604, "alice pw\n", "group or others may read it"},
		{0o600, "alice\n", "line 1"},
		{0o600, "# c\n* admin\n", "line 2"},
		{0o600, "* a pw\n* b pw\n", "line 2"},
		{0o600, "alice pw\nalice pw2\n", "given twice"},
	} {
		_, err := LoadAuthFile(write(tc.mode, tc.content))
		require.ErrorIs(t, err, ErrAuthFile, "%q", tc.content)
		require.ErrorContains(t, err, tc.want)
		require.NotContains(t, err.Error(), "pw", "an error shows a password")
	}
}

func TestTemplateExpand(t *testing.T) {
	tmpl := MustParseTemplate("maildir:/srv/mail/{user}/Maildir")
	got, err := tmpl.Expand("alice@example.org")
	require.NoError(t, err)
	require.Equal(t, "/srv/mail/alice@example.org/Maildir", got)
	id, err := tmpl.ID("bob")
	require.NoError(t, err)
	require.Equal(t, "maildir:/srv/mail/bob/Maildir", id)

	for _, bad := range []string{"../x", "..", ".", "", "a/b", "x\x00"} {
		_, err := tmpl.Expand(bad)
		require.ErrorIs(t, err, ErrUnsafeUser, "Expand(%q)", bad)
		_, err = tmpl.ID(bad)
		require.ErrorIs(t, err, ErrUnsafeUser, "ID(%q)", bad)
	}

	// Names are validated before they reach a template, so the check that
	// a store stays below the template's directory never fires in use;
	// it holds without the validation too.
	for _, tc := range []struct{ tmpl, user string }{
		{"maildir:/srv/mail/{user}", ".."},
		{"maildir:/srv/mail/{user}", "../../etc"},
		{"maildir:/srv/mail/{user}", "."},
		{"maildir:/srv/mail/{user}", ""},
		{"maildir:/srv/mail/{user}/Maildir", "../other"},
		{"maildir:/srv/mail/{user}/Maildir", "../../x"},
		{"maildir:spool/{user}", "../x"},
		{"maildir:{user}", ".."},
		{"maildir:{user}", "/etc"},
	} {
		tmpl := MustParseTemplate(tc.tmpl)
		p, err := tmpl.expand(tc.user)
		require.ErrorIs(t, err, ErrTemplate, "%s with %q gave %q", tc.tmpl, tc.user, p)
	}
	p, err := MustParseTemplate("maildir:{user}").expand("a/b")
	require.NoError(t, err, "below the directory, if deeper: the validation refuses it")
	require.Equal(t, "a/b", p)
	require.Panics(t, func() { MustParseTemplate("nope") })
}

func TestTemplateOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tmpl := MustParseTemplate("maildir:" + dir + "/{user}")
	_, err := tmpl.Open("alice", OpenOptions{ReadOnly: true})
	require.ErrorIs(t, err, mailbox.ErrNotFound, "a source that does not exist")
	require.NoDirExists(t, filepath.Join(dir, "alice"), "and it was not created")

	s, err := tmpl.Open("alice", OpenOptions{})
	require.NoError(t, err, "a target is created")
	_, err = s.Append(ctx, mailbox.Inbox, mailbox.BytesLiteral([]byte("Subject: x\n\nx\n")), mailbox.AppendMeta{})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s, err = tmpl.Open("alice", OpenOptions{ReadOnly: true})
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Append(ctx, mailbox.Inbox, mailbox.BytesLiteral([]byte("Subject: y\n\ny\n")), mailbox.AppendMeta{})
	require.ErrorIs(t, err, mailbox.ErrReadOnly)
	require.ErrorContains(t, err, "maildir:"+dir+"/alice", "errors name the store")

	_, err = tmpl.Open("../x", OpenOptions{})
	require.ErrorIs(t, err, ErrUnsafeUser)
}

func TestReadOnly(t *testing.T) {
	s, err := MustParseTemplate("maildir:"+t.TempDir()+"/{user}").Open("alice", OpenOptions{})
	require.NoError(t, err)
	defer s.Close()
	r := ReadOnly(s)
	_, isWriter := r.(mailbox.Writer)
	require.False(t, isWriter, "the engine must see a store it cannot write to")
	_, isCloser := r.(interface{ Close() error })
	require.False(t, isCloser, "closing stays the opener's")
	infos, err := r.Mailboxes(context.Background())
	require.NoError(t, err)
	require.Len(t, infos, 1, "reads go through")
}

// TestTemplateOpenReader: every scheme opens for reading; only maildir
// for writing.
func TestTemplateOpenReader(t *testing.T) {
	dir := t.TempDir()
	msg := "From: a@example.org\nSubject: hello\n\nbody\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "alice.mbox"), []byte("From a@example.org Sat Jan  3 01:05:34 2024\n"+msg), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "found", "alice"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "found", "alice", "#1234"), []byte(msg), 0o644))
	for _, tmpl := range []string{"mbox:" + dir + "/{user}.mbox", "loose:" + dir + "/found/{user}"} {
		tm := MustParseTemplate(tmpl)
		r, err := tm.OpenReader("alice", OpenOptions{})
		require.NoError(t, err, tmpl)
		n := 0
		for m, err := range r.Messages(bg, mailbox.Inbox, uid.All) {
			require.NoError(t, err, tmpl)
			require.NotZero(t, m.UID)
			n++
		}
		require.Equal(t, 1, n, tmpl)
		require.NoError(t, r.Close())
		_, err = tm.Open("alice", OpenOptions{})
		require.ErrorIs(t, err, ErrTemplate, "%s: not writable", tmpl)
		_, err = tm.OpenReader("../x", OpenOptions{})
		require.ErrorIs(t, err, ErrUnsafeUser, tmpl)
	}
	// A maildir opened for reading is not created.
	tm := MustParseTemplate("maildir:" + dir + "/md/{user}")
	_, err := tm.OpenReader("alice", OpenOptions{})
	require.ErrorIs(t, err, mailbox.ErrNotFound)
	_, err = os.Stat(filepath.Join(dir, "md"))
	require.ErrorIs(t, err, os.ErrNotExist)
}
