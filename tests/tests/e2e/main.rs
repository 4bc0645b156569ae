//! The end-to-end tests: one test binary, one module per area. They drive
//! the `krl` binary as users do; what they share is the krl-tests library
//! (tests/src). docs/layout.md, "End-to-end tests".

mod adversarial;
mod broken;
mod call_sessions;
mod check;
mod clock;
mod cluster;
mod commands;
mod config_values_the_verbs_take;
mod console;
mod console_browser;
mod durability;
mod entity_maps;
mod family;
mod http;
mod idempotency;
mod install_refuse;
mod limits;
mod live_call;
mod lsp;
mod modules;
mod mqtt;
mod mqtt_bridge;
mod mqtt_tls;
mod new_pico;
mod outbox;
mod phone;
mod phone_menu;
mod phone_url;
mod pico_engine_routes;
mod pico_schedules;
mod regex_limits;
mod runtime_errors;
mod scenario_caller_id_greeting;
mod scenario_gather_echo;
mod scenario_hello_monkey;
mod scenario_interactive_flow;
mod scenario_ivr;
mod scenario_phone_tree;
mod schedules;
mod server;
mod static_files;
mod twilio;
mod twilio_attributes;
