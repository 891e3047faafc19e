# Dashboards and alerts for a migration: deploy/grafana/*.json, deploy/prometheus/alerts.yml.
#
#   make test-deploy   promtool checks the rules and runs their unit tests
#                      (deploy/prometheus/alerts_test.yml); the metric names every expression
#                      uses are checked against a live scrape by core/tests/deploy_metrics.rs
#                      (make test-rust)

TEST_TARGETS += test-deploy

.PHONY: test-deploy

test-deploy:
	promtool check rules deploy/prometheus/alerts.yml
	cd deploy/prometheus && promtool test rules alerts_test.yml
