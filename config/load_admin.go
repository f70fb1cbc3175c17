package config

// admin reads the keys for the people who edit config.yaml: reload: and
// rule_tests:.
func (l *loader) admin(m *cfgMapping, cfg *Config) {
	if v := m.get("reload"); v != nil {
		if s, ok := l.str(v, "reload"); ok {
			switch s {
			case "signal":
				cfg.Reload = ReloadSignal
			case "watch":
				cfg.Reload = ReloadWatch
			default:
				l.at(v, "reload: %q is not signal or watch", s)
			}
		}
	}
	if v := m.get("rule_tests"); v != nil {
		if s, ok := l.str(v, "rule_tests"); ok {
			if s == "" {
				l.at(v, "rule_tests: empty path; leave the key out when there are no rule tests")
			}
			cfg.RuleTests = l.resolve(s)
		}
	}
}
