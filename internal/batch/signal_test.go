package batch

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestInterrupts sends the test process SIGINT twice: the first closes the
// stop channel, the second cancels the context.
func TestInterrupts(t *testing.T) {
	var log syncBuffer
	ctx, stop, release := Interrupts(context.Background(), &log)
	defer release()
	require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGINT))
	select {
	case <-stop:
	case <-time.After(10 * time.Second):
		t.Fatal("no stop after SIGINT")
	}
	require.NoError(t, ctx.Err(), "the first signal only stops")
	require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGTERM))
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("no cancel after a second signal")
	}
	require.True(t, strings.Contains(log.String(), "stopping") && strings.Contains(log.String(), "aborting"), log.String())
}
