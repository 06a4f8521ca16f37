package batch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUsers(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users")
	require.NoError(t, os.WriteFile(file, []byte("# users\nalice\nbob\n"), 0o644))
	got, err := Users(file, nil, []string{"bob", "carol", "carol"})
	require.NoError(t, err)
	require.Equal(t, []string{"alice", "bob", "carol"}, got, "the file's, then the names it lacks, each once")
	got, err = Users("-", strings.NewReader("dave\n"), nil)
	require.NoError(t, err)
	require.Equal(t, []string{"dave"}, got)
	got, err = Users("", nil, []string{"erin"})
	require.NoError(t, err)
	require.Equal(t, []string{"erin"}, got)
	_, err = Users(filepath.Join(t.TempDir(), "missing"), nil, nil)
	require.Error(t, err)
}

func TestTemplateSame(t *testing.T) {
	a := MustParseTemplate("maildir:/srv/mail/{user}")
	require.True(t, a.Same(MustParseTemplate("maildir:/srv//mail/{user}/")))
	require.False(t, a.Same(MustParseTemplate("maildir:/replica/{user}")))
	require.False(t, a.Same(MustParseTemplate("mbox:/srv/mail/{user}")))
}
