"""GET /docs in a real browser (headless Chromium through selenium): the page renders
every operation of the document from this host alone, a token can be entered in
"Authorize", and "Try it out" on storage-info shows the 200 body. A screenshot of the
page is kept as a test artefact (Tests/artifacts/docs-page.png, gitignored)."""
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import openapi_oracle
from contract_support import Stack

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "Tests" / "artifacts"

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack("docs", tmp_path_factory.mktemp("docs"))
    s.start()
    yield s
    s.stop()


@pytest.fixture
def browser(tmp_path):
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    assert chromium and driver_path, "chromium and chromium-driver are installed by scripts/install-deps"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,4000", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def requested_hosts(driver):
    """Every host the page asked for anything (from the DevTools performance log)."""
    import json
    hosts = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if url.startswith(("http://", "https://")):
                hosts.add(urlsplit(url).netloc)
    return hosts


def test_docs_page_renders_every_operation_and_tries_storage_info(stack, browser):
    token = stack.token("auth0|docs-page")
    wait = WebDriverWait(browser, 60)
    browser.get(stack.base_url + "/docs")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))

    # Every documented operation is on the page, by method and path.
    shown = set()
    for block in browser.find_elements(By.CSS_SELECTOR, ".opblock"):
        method = block.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text.strip().upper()
        path = block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path")
        shown.add((method, path))
    assert shown == openapi_oracle.documented_routes()

    # A token goes into "Authorize".
    browser.find_element(By.CSS_SELECTOR, "button.authorize").click()
    field = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, ".modal-ux input[type=text], "
                                                                          ".modal-ux input[type=password]")))
    field.send_keys(token)
    browser.find_element(By.CSS_SELECTOR, ".modal-ux .auth-btn-wrapper button.authorize").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".modal-ux .auth-btn-wrapper button.btn-done")))
    browser.find_element(By.CSS_SELECTOR, ".modal-ux .auth-btn-wrapper button.btn-done").click()
    wait.until(EC.invisibility_of_element_located((By.CSS_SELECTOR, ".modal-ux")))

    # "Try it out" on storage-info, then Execute: the live 200 and its body.
    block = browser.find_element(By.ID, "operations-service-storageInfo")
    block.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
    wait.until(lambda d: block.find_elements(By.CSS_SELECTOR, ".try-out__btn"))
    block.find_element(By.CSS_SELECTOR, ".try-out__btn").click()
    wait.until(lambda d: block.find_elements(By.CSS_SELECTOR, ".execute"))
    block.find_element(By.CSS_SELECTOR, ".execute").click()
    status = wait.until(lambda d: block.find_elements(By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_status"))
    wait.until(lambda d: status[0].text.strip() != "")
    assert status[0].text.strip().startswith("200"), status[0].text
    body = block.find_element(By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_description pre").text
    assert '"storage_mode": "LOCAL"' in body and '"s3_enabled": false' in body, body
    browser.execute_script("arguments[0].scrollIntoView()", block)

    ARTIFACTS.mkdir(exist_ok=True)
    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.save_screenshot(str(ARTIFACTS / "docs-page.png"))

    # Nothing came from another host: the page, its assets and the document are all local.
    assert requested_hosts(browser) == {f"127.0.0.1:{stack.port}"}
