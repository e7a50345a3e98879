# Thin wrapper over the npm scripts, for people who reach for make.
BOARD ?= esp32-devkitc

.PHONY: all firmware flash provision test bench start clean
all: test

# dist/$(BOARD)/: app.js, the G table, manifest.json (sizes, fit check) and the board file for
# the espruino CLI. Fails when the firmware does not fit the board. COMPONENTS=a,b builds fewer
# source components; ESPRUINO=<Linux build> also boots the app in the real interpreter.
firmware:
	node scripts/build-firmware.mjs --board $(BOARD) $(if $(COMPONENTS),--components $(COMPONENTS))
	node scripts/manifest.mjs --board $(BOARD)

# Uploads dist/$(BOARD)/ to PORT (/dev/ttyUSB0 or tcp://host:port), offline. docs/flashing.md.
flash:
	node scripts/flash.mjs --board $(BOARD) --port "$(PORT)" $(if $(BAUD),--baud $(BAUD))

# Writes the device config, reads the device's identity back, adds it to REGISTRY. The Wi-Fi
# password comes from $$WIFI_PASSWORD or a prompt; never put it on the make command line.
provision:
	node scripts/provision.mjs --board $(BOARD) --port "$(PORT)" --ssid "$(WIFI_SSID)" --broker "$(BROKER)" \
	  $(if $(SOURCES),--sources "$(SOURCES)") $(if $(REGISTRY),--registry "$(REGISTRY)") $(if $(LABEL),--label "$(LABEL)")

test:
	npm test

bench:
	npm run bench

start:
	npm start

clean:
	rm -rf build dist
