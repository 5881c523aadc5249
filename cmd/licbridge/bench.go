package main

import (
	"github.com/licbridge/licbridge/bridge/redisstore/bench"
	"github.com/urfave/cli/v2"
)

// benchCommand sizes a deployment: bench admission simulates nodes admitting
// and releasing against a given Redis (bridge/redisstore/bench does the work).
func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure what a Redis or Redis Cluster sustains, to size a deployment",
		Subcommands: []*cli.Command{{
			Name:  "admission",
			Usage: "simulate N nodes (heartbeating, K keys each) admitting and releasing channels; prints p50/p99, admissions/s and Redis's own time",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "redis", Required: true, Usage: "the store to measure: redis://HOST:PORT, or host:port[,host:port...] for Cluster/Sentinel", EnvVars: []string{"LICBRIDGE_REDIS"}},
				&cli.StringFlag{Name: "redis-password", Usage: "Redis password (never printed)", EnvVars: []string{"LICBRIDGE_REDIS_PASSWORD"}},
				&cli.StringFlag{Name: "sentinel-master", Usage: "master name when --redis lists Sentinels"},
				&cli.IntFlag{Name: "nodes", Value: 1, Usage: "nodes to simulate"},
				&cli.IntFlag{Name: "keys", Value: 1, Usage: "license keys per node and product"},
				&cli.IntFlag{Name: "admissions", Value: 10000, Usage: "admissions to make, each released at once (burst mode)"},
				&cli.IntFlag{Name: "concurrency", Value: 1, Usage: "admissions in flight at once"},
				&cli.IntFlag{Name: "products", Value: 1, Usage: "products to spread the load over (each its own Cluster slot)"},
				&cli.IntFlag{Name: "hold", Usage: "steady state: channels held per product (its licensed total)"},
				&cli.IntFlag{Name: "churn", Usage: "steady state: admissions (and releases) per second"},
				&cli.DurationFlag{Name: "duration", Usage: "steady state: how long to churn"},
				&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
			},
			Action: func(c *cli.Context) error {
				res, err := bench.Run(c.Context, bench.Config{
					Redis: c.String("redis"), Password: c.String("redis-password"), SentinelMaster: c.String("sentinel-master"),
					Nodes: c.Int("nodes"), Keys: c.Int("keys"), Admissions: c.Int("admissions"), Concurrency: c.Int("concurrency"),
					Products: c.Int("products"), Hold: c.Int("hold"), Churn: c.Int("churn"), Duration: c.Duration("duration"),
					Progress: c.App.ErrWriter,
				})
				// A run that stopped before measuring has no figures to show.
				if err == nil || res.Seconds > 0 {
					if werr := bench.Write(c.App.Writer, res, c.Bool("json")); werr != nil && err == nil {
						err = werr
					}
				}
				if err == nil && res.LimitExceeded {
					return cli.Exit("licbridge: bench admission: the limit was exceeded", 1)
				}
				return err
			},
		}},
	}
}
