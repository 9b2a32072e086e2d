//! The built-in Airflow model: every metric Airflow 2.x and 3.x emits, as one
//! Prometheus family per concept.
//!
//! Each family lists the *events* that feed it. An event is one Airflow call
//! site, which may reach us under two names: the tagged name (constant name,
//! identities in DogStatsD/InfluxDB tags, bare in plain StatsD) and the legacy
//! name (identities baked into the name). The identity labels of a family are
//! exactly those its legacy name carries, so plain, DogStatsD and InfluxDB
//! traffic give the same series.
//!
//! Legacy patterns: `{label}` is a placeholder; `{dag_id}` may contain dots
//! (resolved against DAG ids seen elsewhere), `{state}`, `{job_id}`,
//! `{return_code}`, `{queue}` and `{bundle}` are one component, other
//! placeholders take what is left. `{_}` is matched and dropped.

/// Histogram buckets, in seconds, chosen for what each timer measures.
pub mod buckets {
    /// Scheduler loop, critical section, DB queries: milliseconds to a minute.
    pub const SCHEDULER_LOOP: &[f64] = &[
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ];
    /// Task runs: a second to a day.
    pub const TASK: &[f64] = &[
        1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0,
    ];
    /// DAG runs: ten seconds to a day.
    pub const DAGRUN: &[f64] = &[
        10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 43200.0, 86400.0,
    ];
    /// Scheduling and queueing delays: sub-second to an hour.
    pub const DELAY: &[f64] = &[
        0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
    ];
    /// Parsing one DAG file.
    pub const DAG_PARSE: &[f64] = &[
        0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
    ];
    /// Short internal operations (serializers, pod API calls, dependency checks).
    pub const SHORT_OP: &[f64] = &[
        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ];
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Counter,
    Gauge,
    /// StatsD counter increments and decrements summed into a gauge
    /// (`dag_processing.processes`).
    UpDown,
    /// A `|ms` timer exposed as a seconds histogram.
    Timer(&'static [f64]),
}

/// Where Airflow sends seconds although the line says `|ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fix {
    None,
    /// `Stats.timer()` context timers in DogStatsD mode send seconds (every version).
    SecondsIfDogStatsd,
    /// 2.x `task.duration` in DogStatsD mode sends seconds.
    SecondsIfDogStatsdV2,
    /// 2.11 `task.queued_duration`/`scheduled_duration` are float seconds
    /// (default `timer_unit_consistency = False`) in every mode.
    SecondsV2,
    /// 3.x `dag_processing.last_duration` is float seconds in every mode.
    SecondsV3,
}

impl Fix {
    pub fn describe(self) -> &'static str {
        match self {
            Fix::None => "",
            Fix::SecondsIfDogStatsd => "seconds sent as `|ms` by DogStatsD context timers (all versions): multiplied by 1000 before the ÷1000",
            Fix::SecondsIfDogStatsdV2 => "seconds sent as `|ms` in DogStatsD mode by Airflow 2.x: corrected",
            Fix::SecondsV2 => "float seconds sent as `|ms` by Airflow 2.11 (timer_unit_consistency = False): corrected",
            Fix::SecondsV3 => "float seconds sent as `|ms` by Airflow 3.x (apache/airflow#72553): corrected",
        }
    }
}

/// One Airflow call site.
#[derive(Debug)]
pub struct Event {
    pub tagged: Option<&'static str>,
    pub legacy: &'static [&'static str],
    /// Labels this event sets on its own (e.g. `state="open"`).
    pub consts: &'static [(&'static str, &'static str)],
    pub fix: Fix,
}

#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    /// Identity labels (from legacy placeholders or tags) plus const label names.
    pub labels: &'static [&'static str],
    pub events: &'static [Event],
    /// Airflow versions that emit it, for the docs.
    pub versions: &'static str,
    /// Series expire after this many seconds without an update (0 = never).
    pub ttl_seconds: u64,
    /// Zero-valued increments never create a series (2.x pre-initialises
    /// `ti.finish` for all 13 states at task start; 3.x does not).
    pub skip_zero_increments: bool,
    /// 3.x sends the legacy name twice per event (raw and `__`-escaped);
    /// an immediate repeat from the same sender is dropped.
    pub drop_immediate_repeat: bool,
}

const fn ev(tagged: &'static str, legacy: &'static [&'static str]) -> Event {
    Event {
        tagged: Some(tagged),
        legacy,
        consts: &[],
        fix: Fix::None,
    }
}

const fn evc(
    tagged: &'static str,
    legacy: &'static [&'static str],
    consts: &'static [(&'static str, &'static str)],
) -> Event {
    Event {
        tagged: Some(tagged),
        legacy,
        consts,
        fix: Fix::None,
    }
}

const fn evf(tagged: &'static str, legacy: &'static [&'static str], fix: Fix) -> Event {
    Event {
        tagged: Some(tagged),
        legacy,
        consts: &[],
        fix,
    }
}

const fn fam(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    events: &'static [Event],
    versions: &'static str,
    help: &'static str,
) -> Family {
    Family {
        name,
        help,
        kind,
        labels,
        events,
        versions,
        ttl_seconds: 0,
        skip_zero_increments: false,
        drop_immediate_repeat: false,
    }
}

use Kind::{Counter, Gauge, Timer, UpDown};

/// Tag keys accepted for each label, in order of preference.
pub const TAG_KEYS: &[(&str, &[&str])] = &[
    ("dag_id", &["dag_id"]),
    ("task_id", &["task_id"]),
    ("state", &["state"]),
    ("pool", &["pool_name"]),
    ("executor", &["executor_class_name", "name", "executor"]),
    ("queue", &["queue"]),
    ("dag_file", &["file_name"]),
    ("bundle", &["bundle_name"]),
    ("hostname", &["hostname"]),
    ("operator", &["operator_name", "operator", "task_type"]),
    ("return_code", &["return_code"]),
];

pub static FAMILIES: &[Family] = &[
    // --- Liveness -------------------------------------------------------
    fam(
        "airflow_heartbeats_total",
        Counter,
        &["component"],
        &[
            evc("scheduler_heartbeat", &[], &[("component", "scheduler")]),
            evc("triggerer_heartbeat", &[], &[("component", "triggerer")]),
            evc("dag_processor_heartbeat", &[], &[("component", "dag_processor")]),
        ],
        "2.x, 3.x (dag_processor: 3.x)",
        "Heartbeats sent by Airflow components after a successful DB heartbeat (every ~5 s each).",
    ),
    fam("airflow_job_starts_total", Counter, &[], &[ev("job_start", &[])], "2.x, 3.x",
        "Airflow jobs started (scheduler, triggerer, dag-processor; in 2.x also every task run)."),
    fam("airflow_job_ends_total", Counter, &[], &[ev("job_end", &[])], "2.x, 3.x",
        "Airflow jobs that ended cleanly."),
    fam("airflow_job_heartbeat_failures_total", Counter, &[], &[ev("job_heartbeat_failure", &[])], "2.x, 3.x",
        "Job DB heartbeats that raised an error (any job type)."),
    fam("airflow_scheduler_stale_jobs_failed_total", Counter, &[], &[ev("schedulerjobrunner_end", &[])], "2.x, 3.x",
        "Other scheduler jobs found with a stale heartbeat and marked failed (schedulers that died uncleanly)."),
    fam("airflow_local_task_job_heartbeat_failures_total", Counter, &[], &[ev("local_task_job_prolonged_heartbeat_failure", &[])], "2.x",
        "LocalTaskJob heartbeats that failed for longer than the threshold."),
    // --- Task instances -------------------------------------------------
    fam("airflow_task_starts_total", Counter, &["dag_id", "task_id"],
        &[ev("ti.start", &["ti.start.{dag_id}.{task_id}"])], "2.x, 3.x (not 3.0/3.1)",
        "Task instances started."),
    Family {
        skip_zero_increments: true,
        ..fam("airflow_task_finishes_total", Counter, &["dag_id", "task_id", "state"],
            &[ev("ti.finish", &["ti.finish.{dag_id}.{task_id}.{state}"])], "2.x, 3.x (not 3.0/3.1)",
            "Task instances finished, by final state.")
    },
    fam("airflow_task_successes_total", Counter, &[], &[ev("ti_successes", &[])], "2.x, 3.x",
        "Task instances that succeeded (all DAGs; per DAG see airflow_task_finishes_total)."),
    fam("airflow_task_failures_total", Counter, &[], &[ev("ti_failures", &[])], "2.x, 3.x",
        "Task instances that failed (all DAGs; per DAG see airflow_task_finishes_total)."),
    fam("airflow_operator_successes_total", Counter, &["operator"],
        &[ev("operator_successes", &["operator_successes_{operator}"])], "2.x, 3.x",
        "Task instances that succeeded, by operator class."),
    fam("airflow_operator_failures_total", Counter, &["operator"],
        &[ev("operator_failures", &["operator_failures_{operator}"])], "2.x, 3.x",
        "Task instances that failed, by operator class."),
    fam("airflow_task_instances_created_total", Counter, &["operator"],
        &[ev("task_instance_created", &["task_instance_created_{operator}"])], "2.x, 3.x",
        "Task instances created by the scheduler, by operator class."),
    fam("airflow_task_exits_total", Counter, &["dag_id", "task_id", "return_code"],
        &[ev("local_task_job.task_exit", &["local_task_job.task_exit.{job_id}.{dag_id}.{task_id}.{return_code}"])], "2.x",
        "Task processes that exited, by return code."),
    fam("airflow_task_previously_succeeded_total", Counter, &[], &[ev("previously_succeeded", &[])], "2.x",
        "Task instances found already succeeded when about to run."),
    fam("airflow_task_heartbeat_timeouts_total", Counter, &[],
        &[ev("zombies_killed", &[]), ev("task_instances_without_heartbeats_killed", &[])], "2.x (zombies_killed), 3.x",
        "Task instances killed because their heartbeat stopped (zombies)."),
    fam("airflow_tasks_killed_externally_total", Counter, &[], &[ev("scheduler.tasks.killed_externally", &[])], "2.x, 3.x",
        "Task instances the scheduler found killed outside Airflow."),
    fam("airflow_task_removed_from_dag_total", Counter, &["dag_id"],
        &[ev("task_removed_from_dag", &["task_removed_from_dag.{dag_id}"])], "2.x, 3.x",
        "Tasks removed from a DAG run because they left the DAG."),
    fam("airflow_task_restored_to_dag_total", Counter, &["dag_id"],
        &[ev("task_restored_to_dag", &["task_restored_to_dag.{dag_id}"])], "2.x, 3.x",
        "Tasks restored to a DAG run because they came back to the DAG."),
    fam("airflow_task_instances", Gauge, &["state", "queue", "dag_id", "task_id"],
        &[
            evc("ti.running", &["ti.running.{queue}.{dag_id}.{task_id}"], &[("state", "running")]),
            evc("ti.queued", &["ti.queued.{queue}.{dag_id}.{task_id}"], &[("state", "queued")]),
            evc("ti.scheduled", &["ti.scheduled.{queue}.{dag_id}.{task_id}"], &[("state", "scheduled")]),
            evc("ti.deferred", &["ti.deferred.{queue}.{dag_id}.{task_id}"], &[("state", "deferred")]),
            evc("ti.awaiting_input", &[], &[("state", "awaiting_input")]),
        ], "3.x",
        "Task instances per state, queue, DAG and task (every 30 s)."),
    fam("airflow_task_cpu_usage_ratio", Gauge, &["dag_id", "task_id"],
        &[ev("task.cpu_usage", &["task.cpu_usage.{dag_id}.{task_id}"])], "2.x",
        "CPU usage of a running task process (1 = one core)."),
    fam("airflow_task_memory_usage_ratio", Gauge, &["dag_id", "task_id"],
        &[ev("task.mem_usage", &["task.mem_usage.{dag_id}.{task_id}"])], "2.x",
        "Memory usage of a running task process as a fraction of the host's memory."),
    fam("airflow_task_duration_seconds", Timer(buckets::TASK), &["dag_id", "task_id"],
        &[evf("task.duration", &["dag.{dag_id}.{task_id}.duration"], Fix::SecondsIfDogStatsdV2)], "2.x, 3.x",
        "Task run durations."),
    fam("airflow_task_scheduled_duration_seconds", Timer(buckets::DELAY), &["dag_id", "task_id"],
        &[evf("task.scheduled_duration", &["dag.{dag_id}.{task_id}.scheduled_duration"], Fix::SecondsV2)], "2.x, 3.x",
        "Time task instances spent scheduled before being queued."),
    fam("airflow_task_queued_duration_seconds", Timer(buckets::DELAY), &["dag_id", "task_id"],
        &[evf("task.queued_duration", &["dag.{dag_id}.{task_id}.queued_duration"], Fix::SecondsV2)], "2.x",
        "Time task instances spent queued before running."),
    // --- DAG runs -------------------------------------------------------
    fam("airflow_dagrun_duration_seconds", Timer(buckets::DAGRUN), &["dag_id", "state"],
        &[
            evc("dagrun.duration.success", &["dagrun.duration.success.{dag_id}"], &[("state", "success")]),
            evc("dagrun.duration.failed", &["dagrun.duration.failed.{dag_id}"], &[("state", "failed")]),
        ], "2.x, 3.x",
        "DAG run durations, by final state."),
    fam("airflow_dagrun_schedule_delay_seconds", Timer(buckets::DELAY), &["dag_id"],
        &[ev("dagrun.schedule_delay", &["dagrun.schedule_delay.{dag_id}"])], "2.x, 3.x",
        "Delay between a scheduled DAG run's logical date and its start."),
    Family {
        drop_immediate_repeat: true,
        ..fam("airflow_dagrun_first_task_scheduling_delay_seconds", Timer(buckets::DELAY), &["dag_id"],
            &[ev("dagrun.first_task_scheduling_delay", &["dagrun.{dag_id}.first_task_scheduling_delay"])], "2.x, 3.x",
            "Delay between a DAG run's start and its first task being scheduled.")
    },
    fam("airflow_dagrun_first_task_start_delay_seconds", Timer(buckets::DELAY), &[],
        &[ev("dagrun.first_task_start_delay", &[])], "3.x",
        "Delay between a DAG run's start and its first task starting."),
    fam("airflow_dagrun_dependency_check_seconds", Timer(buckets::SHORT_OP), &["dag_id"],
        &[evf("dagrun.dependency-check", &["dagrun.dependency-check.{dag_id}"], Fix::SecondsIfDogStatsd)], "2.x, 3.x",
        "Time the scheduler spent checking a DAG run's task dependencies."),
    fam("airflow_dag_callback_exceptions_total", Counter, &[], &[ev("dag.callback_exceptions", &[])], "2.x, 3.x",
        "Exceptions raised by DAG callbacks."),
    fam("airflow_sla_missed_total", Counter, &[], &[ev("sla_missed", &[])], "2.x",
        "Task SLA misses."),
    fam("airflow_sla_notification_failures_total", Counter, &["channel"],
        &[
            evc("sla_callback_notification_failure", &[], &[("channel", "callback")]),
            evc("sla_email_notification_failure", &[], &[("channel", "email")]),
        ], "2.x",
        "SLA miss notifications that failed, by channel."),
    fam("airflow_deadline_alerts_total", Counter, &["event"],
        &[
            evc("deadline_alerts.deadline_created", &[], &[("event", "created")]),
            evc("deadline_alerts.deadline_missed", &[], &[("event", "missed")]),
            evc("deadline_alerts.deadline_not_missed", &[], &[("event", "not_missed")]),
        ], "3.x",
        "Deadline alert events."),
    fam("airflow_deadline_alert_callbacks_total", Counter, &["state"],
        &[Event { tagged: None, legacy: &["deadline_alerts.callback_{state}"], consts: &[], fix: Fix::None }], "3.x",
        "Deadline alert callbacks, by state (free-text tags are dropped)."),
    // --- Scheduler --------------------------------------------------------
    fam("airflow_scheduler_loop_duration_seconds", Timer(buckets::SCHEDULER_LOOP), &[],
        &[evf("scheduler.scheduler_loop_duration", &[], Fix::SecondsIfDogStatsd)], "2.x, 3.x",
        "Duration of one scheduler loop."),
    fam("airflow_scheduler_critical_section_duration_seconds", Timer(buckets::SCHEDULER_LOOP), &[],
        &[evf("scheduler.critical_section_duration", &[], Fix::SecondsIfDogStatsd)], "2.x, 3.x",
        "Time spent in the scheduler's critical section (pool slot assignment)."),
    fam("airflow_scheduler_critical_section_query_duration_seconds", Timer(buckets::SCHEDULER_LOOP), &[],
        &[evf("scheduler.critical_section_query_duration", &[], Fix::SecondsIfDogStatsd)], "2.x, 3.x",
        "Time spent on the critical section's task instance query."),
    fam("airflow_scheduler_critical_section_busy_total", Counter, &[],
        &[ev("scheduler.critical_section_busy", &[])], "2.x, 3.x",
        "Times a scheduler found the critical section locked by another scheduler."),
    fam("airflow_scheduler_executor_heartbeat_duration_seconds", Timer(buckets::SCHEDULER_LOOP), &[],
        &[evf("scheduler.executor_heartbeat_duration", &[], Fix::SecondsIfDogStatsd)], "3.x",
        "Duration of the executor heartbeat in the scheduler loop."),
    fam("airflow_scheduler_tasks", Gauge, &["state"],
        &[
            evc("scheduler.tasks.starving", &[], &[("state", "starving")]),
            evc("scheduler.tasks.executable", &[], &[("state", "executable")]),
        ], "2.x, 3.x",
        "Tasks the last scheduler loop could not schedule for lack of pool slots (starving) or found executable."),
    fam("airflow_scheduler_orphaned_tasks_total", Counter, &["outcome"],
        &[
            evc("scheduler.orphaned_tasks.cleared", &[], &[("outcome", "cleared")]),
            evc("scheduler.orphaned_tasks.adopted", &[], &[("outcome", "adopted")]),
        ], "2.x, 3.x",
        "Orphaned task instances found at scheduler start-up and every 5 minutes, cleared or adopted."),
    fam("airflow_scheduler_dagruns_running", Gauge, &[], &[ev("scheduler.dagruns.running", &[])], "3.x",
        "DAG runs in the running state."),
    fam("airflow_dag_bag_cache_events_total", Counter, &["component", "event"],
        &[
            evc("scheduler.dag_bag.cache_hit", &[], &[("component", "scheduler"), ("event", "hit")]),
            evc("scheduler.dag_bag.cache_miss", &[], &[("component", "scheduler"), ("event", "miss")]),
            evc("scheduler.dag_bag.cache_clear", &[], &[("component", "scheduler"), ("event", "clear")]),
            evc("api_server.dag_bag.cache_hit", &[], &[("component", "api_server"), ("event", "hit")]),
            evc("api_server.dag_bag.cache_miss", &[], &[("component", "api_server"), ("event", "miss")]),
            evc("api_server.dag_bag.cache_clear", &[], &[("component", "api_server"), ("event", "clear")]),
        ], "3.x",
        "Serialized DAG cache hits, misses and clears."),
    fam("airflow_dag_bag_cache_size", Gauge, &["component"],
        &[
            evc("scheduler.dag_bag.cache_size", &[], &[("component", "scheduler")]),
            evc("api_server.dag_bag.cache_size", &[], &[("component", "api_server")]),
        ], "3.x",
        "Serialized DAGs held in the cache."),
    // --- Executors and pools ----------------------------------------------
    fam("airflow_executor_slots", Gauge, &["executor", "state"],
        &[
            evc("executor.open_slots", &["executor.open_slots.{executor}"], &[("state", "open")]),
            evc("executor.queued_tasks", &["executor.queued_tasks.{executor}"], &[("state", "queued")]),
            evc("executor.running_tasks", &["executor.running_tasks.{executor}"], &[("state", "running")]),
        ], "2.x, 3.x",
        "Executor slots: open, and tasks queued or running in the executor."),
    Family {
        ttl_seconds: 0,
        ..fam("airflow_pool_slots", Gauge, &["pool", "state"],
            &[
                evc("pool.open_slots", &["pool.open_slots.{pool}"], &[("state", "open")]),
                evc("pool.queued_slots", &["pool.queued_slots.{pool}"], &[("state", "queued")]),
                evc("pool.running_slots", &["pool.running_slots.{pool}"], &[("state", "running")]),
                evc("pool.deferred_slots", &["pool.deferred_slots.{pool}"], &[("state", "deferred")]),
                evc("pool.scheduled_slots", &["pool.scheduled_slots.{pool}"], &[("state", "scheduled")]),
            ], "2.x, 3.x",
            "Pool slots by state (every 5 s).")
    },
    Family {
        // Only sent while a pool starves: expire the last value so it cannot linger.
        ttl_seconds: 60,
        ..fam("airflow_pool_starving_tasks", Gauge, &["pool"],
            &[ev("pool.starving_tasks", &["pool.starving_tasks.{pool}"])], "2.x, 3.x",
            "Tasks that cannot run for lack of slots in the pool (expires 60 s after the pool stops starving).")
    },
    fam("airflow_celery_task_timeout_errors_total", Counter, &[], &[ev("celery.task_timeout_error", &[])], "2.x, 3.x",
        "Celery broker publishes that timed out."),
    fam("airflow_celery_execute_command_failures_total", Counter, &[], &[ev("celery.execute_command.failure", &[])], "2.x, 3.x",
        "Celery worker commands that failed."),
    fam("airflow_kubernetes_executor_pod_requests_total", Counter, &["operation"],
        &[
            evc("kubernetes_executor.pod_creation_status", &[], &[("operation", "creation")]),
            evc("kubernetes_executor.pod_deletion_status", &[], &[("operation", "deletion")]),
            evc("kubernetes_executor.pod_patching_status", &[], &[("operation", "patching")]),
        ], "2.11+, 3.x (cncf-kubernetes 10.25)",
        "Kubernetes API calls made by the KubernetesExecutor, by operation."),
    fam("airflow_kubernetes_executor_pod_creation_batch_size", Gauge, &[],
        &[ev("kubernetes_executor.pod_creation_batch_size", &[])], "2.11+, 3.x",
        "Pods created in the last KubernetesExecutor batch."),
    fam("airflow_kubernetes_executor_operation_duration_seconds", Timer(buckets::SHORT_OP), &["operation"],
        &[
            Event { tagged: Some("kubernetes_executor.adopt_task_instances.duration"), legacy: &[], consts: &[("operation", "adopt_task_instances")], fix: Fix::SecondsIfDogStatsd },
            Event { tagged: Some("kubernetes_executor.clear_not_launched_queued_tasks.duration"), legacy: &[], consts: &[("operation", "clear_not_launched_queued_tasks")], fix: Fix::SecondsIfDogStatsd },
            Event { tagged: Some("kubernetes_executor.pod_creation"), legacy: &[], consts: &[("operation", "pod_creation")], fix: Fix::SecondsIfDogStatsd },
            Event { tagged: Some("kubernetes_executor.pod_deletion"), legacy: &[], consts: &[("operation", "pod_deletion")], fix: Fix::SecondsIfDogStatsd },
            Event { tagged: Some("kubernetes_executor.pod_patching"), legacy: &[], consts: &[("operation", "pod_patching")], fix: Fix::SecondsIfDogStatsd },
            Event { tagged: Some("kubernetes_executor.pod_creation_batch_duration"), legacy: &[], consts: &[("operation", "pod_creation_batch")], fix: Fix::None },
        ], "2.x, 3.x",
        "KubernetesExecutor operation durations."),
    // --- Triggerer ----------------------------------------------------------
    fam("airflow_triggers_running", Gauge, &["hostname"],
        &[ev("triggers.running", &["triggers.running.{hostname}"])], "2.x, 3.x",
        "Triggers running in a triggerer."),
    fam("airflow_triggerer_capacity_left", Gauge, &["hostname"],
        &[ev("triggerer.capacity_left", &["triggerer.capacity_left.{hostname}"])], "3.x",
        "Triggers a triggerer can still take."),
    fam("airflow_triggers_finished_total", Counter, &["outcome"],
        &[
            evc("triggers.succeeded", &[], &[("outcome", "succeeded")]),
            evc("triggers.failed", &[], &[("outcome", "failed")]),
        ], "2.x, 3.x",
        "Triggers that fired (succeeded) or failed."),
    fam("airflow_triggers_blocked_main_thread_total", Counter, &[], &[ev("triggers.blocked_main_thread", &[])], "2.x, 3.x",
        "Triggers that blocked the triggerer's event loop."),
    // --- DAG processing -----------------------------------------------------
    fam("airflow_dagbag_size", Gauge, &[], &[ev("dagbag_size", &[])], "2.x, 3.x",
        "DAGs found in the last full parse of all files."),
    fam("airflow_dag_processing_import_errors", Gauge, &[], &[ev("dag_processing.import_errors", &[])], "2.x, 3.x",
        "DAG files that failed to import in the last parse."),
    fam("airflow_dag_processing_total_parse_time_seconds", Gauge, &[], &[ev("dag_processing.total_parse_time", &[])], "2.x, 3.x",
        "Seconds the last full parse of all DAG files took."),
    fam("airflow_dag_processing_file_path_queue_size", Gauge, &[], &[ev("dag_processing.file_path_queue_size", &[])], "2.x, 3.x",
        "DAG files waiting to be parsed."),
    fam("airflow_dag_processing_file_path_queue_updates_total", Counter, &[],
        &[ev("dag_processing.file_path_queue_update_count", &[])], "2.x, 3.x",
        "Times the DAG file queue was refreshed."),
    fam("airflow_dag_processing_last_run_seconds_ago", Gauge, &["dag_file"],
        &[ev("dag_processing.last_run.seconds_ago", &["dag_processing.last_run.seconds_ago.{dag_file}"])], "2.x, 3.x",
        "Seconds since each DAG file was last parsed."),
    fam("airflow_dag_processing_last_num_of_db_queries", Gauge, &["dag_file"],
        &[Event { tagged: None, legacy: &["dag_processing.last_num_of_db_queries.{dag_file}"], consts: &[], fix: Fix::None }], "2.x",
        "DB queries made by the last parse of each DAG file."),
    fam("airflow_dag_processing_last_duration_seconds", Timer(buckets::DAG_PARSE), &["bundle", "dag_file"],
        &[evf("dag_processing.last_duration", &["dag_processing.last_duration.{bundle}.{dag_file}", "dag_processing.last_duration.{dag_file}"], Fix::SecondsV3)], "2.x, 3.x (bundle: 3.x)",
        "Time each DAG file took to parse."),
    fam("airflow_dag_processing_processes", UpDown, &[], &[ev("dag_processing.processes", &[])], "2.x, 3.x",
        "DAG file processor processes running (Airflow sends +1/-1 counter deltas; summed here, so it starts at 0 when the exporter starts)."),
    fam("airflow_dag_processing_processor_timeouts_total", Counter, &[],
        &[ev("dag_processing.processor_timeouts", &[])], "2.x, 3.x",
        "DAG file processors killed for exceeding the timeout (the deprecated twin dag_file_processor_timeouts is dropped)."),
    fam("airflow_dag_processing_callbacks_total", Counter, &["kind"],
        &[
            evc("dag_processing.sla_callback_count", &[], &[("kind", "sla")]),
            evc("dag_processing.other_callback_count", &[], &[("kind", "other")]),
            evc("dag_processing.callback_only_count", &[], &[("kind", "callback_only")]),
        ], "2.x, 3.x",
        "Callbacks received by the DAG processor."),
    fam("airflow_dag_processing_manager_stalls_total", Counter, &[], &[ev("dag_processing.manager_stalls", &[])], "2.x",
        "Times the DAG processor manager stopped responding."),
    fam("airflow_dag_file_refresh_errors_total", Counter, &[], &[ev("dag_file_refresh_error", &[])], "2.x",
        "Errors refreshing a DAG file."),
    fam("airflow_collect_db_dags_seconds", Timer(buckets::SHORT_OP), &[],
        &[evf("collect_db_dags", &[], Fix::SecondsIfDogStatsd)], "2.x",
        "Time spent loading serialized DAGs from the database."),
    // --- Assets, connections, misc -------------------------------------------
    fam("airflow_asset_updates_total", Counter, &[],
        &[ev("dataset.updates", &[]), ev("asset.updates", &[])], "2.x (dataset), 3.x",
        "Asset (dataset) update events."),
    fam("airflow_asset_triggered_dagruns_total", Counter, &[],
        &[ev("dataset.triggered_dagruns", &[]), ev("asset.triggered_dagruns", &[])], "2.x (dataset), 3.x",
        "DAG runs triggered by asset (dataset) updates."),
    fam("airflow_assets_orphaned", Gauge, &[],
        &[ev("dataset.orphaned", &[]), ev("asset.orphaned", &[])], "2.x (dataset), 3.x",
        "Assets (datasets) no longer referenced by any DAG."),
    fam("airflow_connection_tests_total", Counter, &["outcome"],
        &[
            evc("connection_test.success", &[], &[("outcome", "success")]),
            evc("connection_test.failed", &[], &[("outcome", "failed")]),
            evc("connection_test.reaped", &[], &[("outcome", "reaped")]),
        ], "3.3+",
        "Connection tests by outcome."),
    fam("airflow_connection_tests", Gauge, &["state"],
        &[
            evc("connection_test.active", &[], &[("state", "active")]),
            evc("connection_test.pending", &[], &[("state", "pending")]),
        ], "3.3+",
        "Connection tests in flight."),
    fam("airflow_connection_test_duration_seconds", Timer(buckets::SHORT_OP), &["phase"],
        &[
            Event { tagged: Some("connection_test.dispatch_duration"), legacy: &[], consts: &[("phase", "dispatch")], fix: Fix::SecondsIfDogStatsd },
            Event { tagged: Some("connection_test.hook_duration"), legacy: &[], consts: &[("phase", "hook")], fix: Fix::SecondsIfDogStatsd },
        ], "3.3+",
        "Connection test durations."),
    fam("airflow_resumable_job_events_total", Counter, &["event"],
        &[
            evc("resumable_job.fresh_submit", &[], &[("event", "fresh_submit")]),
            evc("resumable_job.already_succeeded", &[], &[("event", "already_succeeded")]),
            evc("resumable_job.terminal_resubmit", &[], &[("event", "terminal_resubmit")]),
            evc("resumable_job.reconnect_attempt", &[], &[("event", "reconnect_attempt")]),
            evc("resumable_job.reconnect_success", &[], &[("event", "reconnect_success")]),
        ], "3.3+",
        "Resumable job events in workers."),
    fam("airflow_serde_load_serializers_seconds", Timer(buckets::SHORT_OP), &[],
        &[evf("serde.load_serializers", &[], Fix::SecondsIfDogStatsd)], "2.x, 3.x",
        "Time spent loading serializers (per process start)."),
    fam("airflow_io_load_filesystems_seconds", Timer(buckets::SHORT_OP), &[],
        &[evf("airflow.io.load_filesystems", &[], Fix::SecondsIfDogStatsd)], "2.x, 3.x",
        "Time spent loading ObjectStorage filesystems."),
    fam("airflow_openlineage_emit_failures_total", Counter, &[], &[ev("ol.emit.failed", &[])], "provider",
        "OpenLineage events that failed to emit."),
];

/// Airflow names that are deliberately not exposed: duplicates of another
/// name for the same event.
pub const DROPPED_DUPLICATES: &[&str] = &["dag_file_processor_timeouts"];
