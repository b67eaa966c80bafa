// Runs Argo CD resource health checks (Lua) with gopher-lua, the engine Argo CD embeds, the way
// Argo CD runs them. Used by test/unit/argocd/health.test.ts.
module emr-serverless-operator/test/argocd

go 1.26.0

require (
	github.com/yuin/gopher-lua v1.1.1
	layeh.com/gopher-json v0.0.0-20190114024228-97fed8db8427
)
