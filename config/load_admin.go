package config

// admin reads the keys for the people who edit config.yaml: reload: and
// rule_tests:.
func (l *loader) admin(m *cfgMapping, cfg *Config) {
	if v := m.get("reload"); v != nil {
		if s, ok := l.choice(v, "reload", "signal", "watch"); ok && s == "watch" {
			cfg.Reload = ReloadWatch
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
