# The browser tier's fixture (ctest browser.npm-ci): installs playwright-core
# at the version tests/browser/package-lock.json pins, with `npm ci`, into
# the build tree (NPM_DIR), never the source tree.  playwright-core brings
# no browser and downloads none: the tests drive Debian's chromium.  Does
# nothing when that lockfile is installed already; prefers npm's cache.
#   cmake -DSOURCE_DIR=tests/browser -DNPM_DIR=... -DNPM=npm -P npm_ci.cmake
file(MAKE_DIRECTORY ${NPM_DIR})
set(installed ${NPM_DIR}/node_modules/.package-lock.json)
if(EXISTS ${installed} AND EXISTS ${NPM_DIR}/package-lock.json)
  file(SHA256 ${SOURCE_DIR}/package-lock.json want)
  file(SHA256 ${NPM_DIR}/package-lock.json have)
  if(want STREQUAL have)
    message(STATUS "playwright-core is installed in ${NPM_DIR}")
    return()
  endif()
endif()
configure_file(${SOURCE_DIR}/package.json ${NPM_DIR}/package.json COPYONLY)
configure_file(${SOURCE_DIR}/package-lock.json ${NPM_DIR}/package-lock.json COPYONLY)
set(ENV{PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD} 1)
execute_process(COMMAND ${NPM} ci --prefer-offline --no-audit --no-fund --loglevel=error
                WORKING_DIRECTORY ${NPM_DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  # Leave no half-installed lockfile behind to be taken for a good one.
  file(REMOVE ${NPM_DIR}/package-lock.json)
  message(FATAL_ERROR "npm ci in ${NPM_DIR} failed (${rc}): is the npm registry reachable, or its cache (~/.npm) filled?")
endif()
