// `within EXPR UNIT` with every unit, singular and plural, and an
// expression as the amount.
ruleset io.example.cases.event_within {
  rule w_second { select when a x before a y within 1 second send_directive("s") }
  rule w_seconds { select when a x before a y within 1 + 3 seconds send_directive("ss") }
  rule w_minute { select when b x before b y within 1 minute send_directive("m") }
  rule w_minutes { select when b x before b y within 5 minutes send_directive("mm") }
  rule w_hour { select when c x and c y within 1 hour send_directive("h") }
  rule w_hours { select when c x and c y within 2 hours send_directive("hh") }
  rule w_day { select when d x then d y within 1 day send_directive("d") }
  rule w_days { select when d x then d y within 3 days send_directive("dd") }
  rule w_week { select when e x or e y within 1 week send_directive("w") }
  rule w_weeks { select when any 2 (e x, e y, e z) within 2 weeks send_directive("ww") }
  rule w_month { select when repeat 3 (f x) within 1 month send_directive("mo") }
  rule w_months { select when count 2 (f x) within 6 months send_directive("mos") }
  rule w_year { select when g x before g y within 1 year send_directive("y") }
  rule w_years { select when g x before g y within 2 years send_directive("yy") }
}
