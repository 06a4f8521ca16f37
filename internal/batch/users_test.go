package batch

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidUser(t *testing.T) {
	tests := []struct {
		name string
		want string // "" for a valid name, else a piece of the reason
	}{
		{"alice", ""},
		{"alice@example.org", ""},
		{"j.doe", ""},
		{".hidden", ""},
		{"Zoë", ""},
		{"with space", ""},
		{"", "empty name"},
		{".", "directory itself"},
		{"..", `".."`},
		{"../x", `".."`},
		{"x/..", `".."`},
		{"a..b", `".."`},
		{"a/b", "'/'"},
		{"/abs", "'/'"},
		{`a\b`, "'/' or '\\'"},
		{"a\x00b", "control character"},
		{"tab\there", "control character"},
		{"line\nbreak", "control character"},
		{"c1\u0085", "control character"},
		{"\xff\xfe", "UTF-8"},
		{strings.Repeat("x", MaxUserLen), ""},
		{strings.Repeat("x", MaxUserLen+1), "longer than"},
	}
	for _, tc := range tests {
		err := ValidUser(tc.name)
		if tc.want == "" {
			if err != nil {
				t.Errorf("ValidUser(%q) = %v, want nil", tc.name, err)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrUnsafeUser) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ValidUser(%q) = %v, want an ErrUnsafeUser saying %q", tc.name, err, tc.want)
		}
	}
}

func TestReadUsers(t *testing.T) {
	in := "\uFEFFalice\r\n" +
		"# a comment\n" +
		"   \n" +
		"\tbob  \n" +
		"  # an indented comment\n" +
		"alice\n" + // listed again: once
		"../x\n" + // unsafe, kept: the batch fails it alone
		"carol@example.org\n" +
		"dave" // no final newline
	got, err := ReadUsers(strings.NewReader(in), "test")
	require.NoError(t, err)
	require.Equal(t, []string{"alice", "bob", "../x", "carol@example.org", "dave"}, got)

	got, err = ReadUsers(strings.NewReader(""), "empty")
	require.NoError(t, err)
	require.Empty(t, got)

	_, err = ReadUsers(strings.NewReader(strings.Repeat("x", 2<<20)), "huge")
	require.ErrorContains(t, err, "read users from huge")
}

func TestReadUsersFile(t *testing.T) {
	got, err := ReadUsersFile("-", strings.NewReader("a\nb\n"))
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, got)
	_, err = ReadUsersFile(t.TempDir()+"/missing", nil)
	require.ErrorContains(t, err, "missing")
}
