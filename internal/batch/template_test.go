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
		{"imap://host/{user}", "unknown scheme", ""},
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
		if tmpl.String() != tc.in || tmpl.Scheme() != scheme || tmpl.Writable() != (scheme == "maildir") {
			t.Errorf("ParseTemplate(%q): String %q, Scheme %q", tc.in, tmpl.String(), tmpl.Scheme())
		}
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
