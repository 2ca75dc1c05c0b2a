package sim

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShardFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   map[string]string
		want  Shard
		error []string // what the message must name, empty when it parses
	}{
		{"first of ten", map[string]string{"JOB_COMPLETION_INDEX": "0", "SHARD_COUNT": "10"}, Shard{1, 10}, nil},
		{"last of ten", map[string]string{"JOB_COMPLETION_INDEX": "9", "SHARD_COUNT": "10"}, Shard{10, 10}, nil},
		{"only one", map[string]string{"JOB_COMPLETION_INDEX": "0", "SHARD_COUNT": "1"}, Shard{1, 1}, nil},
		{"spaces", map[string]string{"JOB_COMPLETION_INDEX": " 3 ", "SHARD_COUNT": "4\n"}, Shard{4, 4}, nil},
		{"no count", map[string]string{"JOB_COMPLETION_INDEX": "0"}, Shard{}, []string{"SHARD_COUNT is not set", "completions"}},
		{"no index", map[string]string{"SHARD_COUNT": "5"}, Shard{}, []string{"JOB_COMPLETION_INDEX is not set", "Indexed", "0 to 4"}},
		{"nothing", map[string]string{}, Shard{}, []string{"SHARD_COUNT is not set"}},
		{"count zero", map[string]string{"JOB_COMPLETION_INDEX": "0", "SHARD_COUNT": "0"}, Shard{}, []string{`SHARD_COUNT="0"`, ">= 1"}},
		{"count not a number", map[string]string{"JOB_COMPLETION_INDEX": "0", "SHARD_COUNT": "ten"}, Shard{}, []string{`SHARD_COUNT="ten"`}},
		{"index at count", map[string]string{"JOB_COMPLETION_INDEX": "10", "SHARD_COUNT": "10"}, Shard{}, []string{`JOB_COMPLETION_INDEX="10"`, "0 to 9", "SHARD_COUNT=10"}},
		{"index negative", map[string]string{"JOB_COMPLETION_INDEX": "-1", "SHARD_COUNT": "10"}, Shard{}, []string{`JOB_COMPLETION_INDEX="-1"`}},
		{"index not a number", map[string]string{"JOB_COMPLETION_INDEX": "1/10", "SHARD_COUNT": "10"}, Shard{}, []string{`JOB_COMPLETION_INDEX="1/10"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ShardFromEnv(func(name string) string { return tc.env[name] })
			if len(tc.error) == 0 {
				require.NoError(t, err)
				assert.Equal(t, tc.want, got)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "--shard env")
			for _, part := range tc.error {
				assert.Contains(t, err.Error(), part)
			}
		})
	}
}

func TestShardsFromEnvCoverEveryItemOnce(t *testing.T) {
	const n, items = 7, 30
	seen := make([]int, items)
	for index := range n {
		env := map[string]string{ShardIndexEnv: strconv.Itoa(index), ShardCountEnv: strconv.Itoa(n)}
		shard, err := ShardFromEnv(func(name string) string { return env[name] })
		require.NoError(t, err)
		for k := range items {
			if shard.Owns(k) {
				seen[k]++
			}
		}
	}
	for k, times := range seen {
		assert.Equal(t, 1, times, "item %d", k)
	}
}
