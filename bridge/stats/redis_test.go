package stats_test

import (
	"testing"

	"github.com/licbridge/licbridge/internal/testkit/redistest"
)

// startRedis runs a real redis-server on a free loopback port for the test.
func startRedis(t testing.TB) string { return redistest.Start(t).Addr }
